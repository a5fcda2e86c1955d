#!/bin/sh
# Builds the .npy/.npz fuzz target with clang++ -fsanitize=fuzzer,address,undefined against the
# torch-free sources and runs it briefly, seeded with the committed .npy/.npz fixtures.
# Usage: run_fuzz_formats.sh BUILD_DIR [SECONDS]
set -eu
out=$(mkdir -p "${1:?usage: run_fuzz_formats.sh BUILD_DIR [SECONDS]}" && cd "$1" && pwd)
secs=${2:-5}
src=$(cd "$(dirname "$0")/../.." && pwd)
CXX=${CXX_FUZZ:-clang++}
mkdir -p "$out/fuzz_formats_work"
$CXX -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$src/include" -I"$src/src" \
  "$src/tests/fuzz/fuzz_formats.cpp" "$src/src/io/npy_format.cpp" "$src/src/io/zip.cpp" -lz \
  -o "$out/fuzz_formats"
rm -rf "$out/fuzz_formats_work/corpus"
mkdir -p "$out/fuzz_formats_work/corpus"
cp "$src"/tests/fixtures/io/*.npy "$src"/tests/fixtures/io/*.npz "$out/fuzz_formats_work/corpus/"
cd "$out/fuzz_formats_work"
"$out/fuzz_formats" -max_total_time="$secs" -max_len=16384 -timeout=10 -print_final_stats=1 corpus

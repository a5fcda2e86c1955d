#!/bin/sh
# Builds the WFDB fuzz target with clang++ -fsanitize=fuzzer,address against the torch-free
# parser sources and runs it briefly on the seed corpus.
# Usage: run_fuzz.sh BUILD_DIR [SECONDS]
set -eu
out=${1:?usage: run_fuzz.sh BUILD_DIR [SECONDS]}
secs=${2:-5}
src=$(cd "$(dirname "$0")/../.." && pwd)
CXX=${CXX_FUZZ:-clang++}
mkdir -p "$out/fuzz_work"
$CXX -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$src/include" \
  "$src/tests/fuzz/fuzz_wfdb.cpp" "$src/src/io/wfdb_header.cpp" "$src/src/io/wfdb_signal.cpp" \
  "$src/src/io/annotation.cpp" "$src/src/core/file.cpp" -o "$out/fuzz_wfdb"
# The seed corpus is copied so new inputs found by the run do not land in the source tree.
rm -rf "$out/fuzz_work/corpus"
cp -r "$src/tests/fuzz/corpus" "$out/fuzz_work/corpus"
cd "$out/fuzz_work"
"$out/fuzz_wfdb" -max_total_time="$secs" -max_len=4096 -timeout=10 -print_final_stats=1 corpus

#!/bin/sh
# Builds the checkpoint-parser fuzz target (pickle VM, safetensors header, torch zip container)
# with clang++ -fsanitize=fuzzer,address,undefined against the torch-free sources and runs it
# briefly, seeded with the committed weights fixtures.
# Usage: run_fuzz_weights.sh BUILD_DIR [SECONDS]
set -eu
out=$(mkdir -p "${1:?usage: run_fuzz_weights.sh BUILD_DIR [SECONDS]}" && cd "$1" && pwd)
secs=${2:-5}
src=$(cd "$(dirname "$0")/../.." && pwd)
CXX=${CXX_FUZZ:-clang++}
mkdir -p "$out/fuzz_weights_work"
$CXX -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I"$src/include" -I"$src/src" \
  "$src/tests/fuzz/fuzz_weights.cpp" "$src/src/weights/pickle_reader.cpp" "$src/src/weights/pytree.cpp" \
  "$src/src/weights/safetensors_format.cpp" "$src/src/io/zip.cpp" -lz \
  -o "$out/fuzz_weights"
# Seeds: whole fixture files (torch zips, a legacy pickle stream, safetensors) and the data.pkl
# of the small zips as bare pickles.
rm -rf "$out/fuzz_weights_work/corpus"
mkdir -p "$out/fuzz_weights_work/corpus"
for f in vit_namespace.pt views.pt dtypes.pt torch_ecg.pth cnn_legacy.pt plain.safetensors torch_ecg.safetensors \
         hostile_recursive.pt; do
  cp "$src/tests/fixtures/weights/$f" "$out/fuzz_weights_work/corpus/"
done
cp "$src"/tests/fuzz/corpus_weights/* "$out/fuzz_weights_work/corpus/"
cd "$out/fuzz_weights_work"
"$out/fuzz_weights" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 corpus

#!/usr/bin/env bash
# Makes the nomic-bert fixtures of provider/src/test/resources/nomic: two tiny random-weight GGUFs (F32, F16) of
# architecture nomic-bert written with llama.cpp's gguf-py, and llama.cpp's own token ids and embeddings of a few
# texts (llama-tokenize --ids; llama-embedding --pooling mean --embd-normalize 2, i.e. mean-pooled, unit length).
#
#   LLAMA_CPP_SRC=/path/to/llama.cpp LLAMA_CPP_BIN=/path/to/build/bin tests/nomic/make-reference.sh
#
# LLAMA_CPP_BIN holds llama-embedding and llama-tokenize, a CPU build of LLAMA_CPP_SRC:
#   cmake -S $LLAMA_CPP_SRC -B build -DGGML_CUDA=OFF -DLLAMA_BUILD_EXAMPLES=ON -DLLAMA_CURL=OFF
#   cmake --build build --target llama-embedding llama-tokenize -j
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
src=${LLAMA_CPP_SRC:-/work/llama.cpp-src}
bin=${LLAMA_CPP_BIN:-/work/llama.cpp-build-wt20n/bin}
out=$root/provider/src/test/resources/nomic
vocab=$root/provider/src/test/resources/transformers/hf-bert/tokenizer.json
mkdir -p "$out"
for dtype in f32 f16; do
  PYTHONPATH=$src/gguf-py python3 "$here/make_nomic_gguf.py" "$vocab" "$out/tiny-nomic-bert-$dtype.gguf" --dtype "$dtype"
done
python3 "$here/llama_cpp_reference.py" --bin "$bin" --src "$src" --out "$out/ref-embed.json" \
  "$out/tiny-nomic-bert-f32.gguf" "$out/tiny-nomic-bert-f16.gguf"

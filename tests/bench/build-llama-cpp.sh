#!/usr/bin/env bash
# Builds llama.cpp's CPU-only llama-bench (and llama-cli) from a checkout you already have.
# It downloads nothing: SRC_DIR must hold llama.cpp sources (a git checkout or an unpacked archive).
#
#   tests/bench/build-llama-cpp.sh SRC_DIR BUILD_DIR [extra cmake args...]
#
# Afterwards: BUILD_DIR/bin/llama-bench. JOBS (default: nproc) sets the build parallelism,
# TARGETS (default: "llama-bench llama-cli") the targets.
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 SRC_DIR BUILD_DIR [extra cmake args...]" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
build=$2
shift 2
if [[ ! -f "$src/CMakeLists.txt" || ! -d "$src/ggml" ]]; then
  echo "$src does not look like a llama.cpp source tree" >&2
  exit 2
fi
jobs=${JOBS:-$(nproc)}
# LLAMA_BUILD_APP/UI off: newer trees (b10573) build a unified app from an app/ directory that their source
# archives lack, and configuring fails without these; older trees ignore the two options.
targets=${TARGETS:-"llama-bench llama-cli"}
cmake -S "$src" -B "$build" \
  -DCMAKE_BUILD_TYPE=Release \
  -DGGML_NATIVE=ON \
  -DGGML_CUDA=OFF -DGGML_METAL=OFF -DGGML_VULKAN=OFF -DGGML_OPENCL=OFF -DGGML_HIP=OFF -DGGML_SYCL=OFF \
  -DGGML_BLAS=OFF \
  -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
  -DLLAMA_BUILD_APP=OFF -DLLAMA_BUILD_UI=OFF \
  -DBUILD_SHARED_LIBS=OFF \
  "$@"
for t in $targets; do
  cmake --build "$build" --config Release -j "$jobs" --target "$t"
done
echo "built: $(ls "$build"/bin/ 2>/dev/null | tr '\n' ' ')"

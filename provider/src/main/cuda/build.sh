#!/usr/bin/env bash
# Regenerates the CUDA fatbin that the Java backend loads, and the checksum that ties it to these sources.
#
#   provider/src/main/cuda/build.sh          (needs nvcc, CUDA 12.x or 13.x; no GPU needed)
#
# Output (both committed):
#   provider/src/main/resources/io/offload4j/backend/cuda/offload4j.fatbin
#       SASS for sm_80 (A100), sm_86 (RTX 30xx, A10), sm_89 (RTX 40xx, L4), sm_90 (H100/H200), plus
#       compute_90 PTX that newer GPUs' drivers compile at load time.
#   provider/src/main/resources/io/offload4j/backend/cuda/offload4j.fatbin.sha256
#       "sources <sha256>" over the canonical concatenation of this folder (every *.cu, *.cuh and this
#       script, sorted by name, each as "<name>\n" followed by its bytes) and "fatbin <sha256>" of the
#       fatbin itself. CudaFatbinTest recomputes both and fails when they disagree, so a kernel edit
#       without a rebuild (or a fatbin from other sources) cannot pass the build.
#
# The fatbin needs a driver that supports CUDA 13.0 PTX/SASS when built with nvcc 13 (driver >= 580);
# build with nvcc 12.x to support older drivers (>= 525 for 12.0).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/../resources/io/offload4j/backend/cuda"
mkdir -p "$out"
NVCC="${NVCC:-nvcc}"

"$NVCC" --version | tail -n 2
"$NVCC" -O3 -std=c++17 --fatbin --threads 0 \
    -gencode=arch=compute_80,code=sm_80 \
    -gencode=arch=compute_86,code=sm_86 \
    -gencode=arch=compute_89,code=sm_89 \
    -gencode=arch=compute_90,code=sm_90 \
    -gencode=arch=compute_90,code=compute_90 \
    -Xptxas=-warn-spills -Xfatbin=-compress-all \
    -o "$out/offload4j.fatbin" "$here/offload4j.cu"

cd "$here"
sources=$(LC_ALL=C ls -1 | grep -E '\.(cu|cuh)$|^build\.sh$' | LC_ALL=C sort |
    while read -r f; do printf '%s\n' "$f"; cat "$f"; done | sha256sum | cut -d' ' -f1)
fatbin=$(sha256sum "$out/offload4j.fatbin" | cut -d' ' -f1)
printf 'sources %s\nfatbin %s\n' "$sources" "$fatbin" > "$out/offload4j.fatbin.sha256"
echo "wrote $out/offload4j.fatbin ($(stat -c %s "$out/offload4j.fatbin") bytes), sources $sources"

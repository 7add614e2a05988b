#!/usr/bin/env bash
# Regenerates the quantization fixtures under provider/src/test/resources/quant/ (see README.md here).
#
#   tests/quant/make-reference.sh LLAMA_CPP_SRC LLAMA_QUANTIZE
#
#   LLAMA_CPP_SRC   a llama.cpp source tree (its gguf-py is the reference dequantizer)
#   LLAMA_QUANTIZE  llama-quantize built from that tree, e.g.
#                   cmake -S SRC -B BUILD -DGGML_CUDA=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=ON &&
#                   cmake --build BUILD --target llama-quantize -j
#
# Steps: compile the provider's test classes (offline Maven), write the random-weight F32 model of
# io.offload4j.testing.QuantFixtureModel, quantize it with llama-quantize into every preset listed
# below, then make_reference.py dequantizes slices of the results (and random blocks) with gguf-py and
# writes the fixtures and manifest.json. Needs python3 with numpy and a JDK 25.
set -euo pipefail
if [[ $# -ne 2 ]]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
quantize=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
root=$(cd "$(dirname "$0")/../.." && pwd)
out="$root/provider/src/test/resources/quant"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

find_java() {
  local c
  for c in "${JAVA:-}" "${JAVA_HOME:-}/bin/java" /usr/lib/jvm/*25*/bin/java "$HOME"/.jdks/*25*/bin/java; do
    if [[ -n "$c" && -x "$c" ]] && "$c" -version 2>&1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; then echo "$c"; return; fi
  done
  echo "no JDK 25 found: set JAVA=/path/to/java" >&2
  exit 1
}
java=$(find_java)

(cd "$root" && ./mvnw -B -q -o -pl provider test-compile)
"$java" -cp "$root/provider/target/classes:$root/provider/target/test-classes" \
    io.offload4j.testing.QuantFixtureModel "$work/F32.gguf"

# Presets: the six formats' own (Q3_K as Q3_K_M, as users download it), the mixtures users download, and
# Q4_K_M (its ffn_down rows of 128 fall back to a 32-block format). None of them needs an imatrix.
presets=(Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M IQ4_NL IQ4_XS Q4_K_M)
for p in "${presets[@]}"; do
  LD_LIBRARY_PATH="$(dirname "$quantize"):${LD_LIBRARY_PATH:-}" "$quantize" "$work/F32.gguf" "$work/$p.gguf" "$p" 2 \
      > "$work/$p.log" 2>&1 || { cat "$work/$p.log" >&2; exit 1; }
  grep -h "falling back" "$work/$p.log" | sed "s/^/$p: /" || true
done

PYTHONPATH="$src/gguf-py" python3 "$root/tests/quant/make_reference.py" "$work" "$out" "$src"

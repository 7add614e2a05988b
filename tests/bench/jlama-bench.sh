#!/usr/bin/env bash
# Jlama (com.github.tjake:jlama-core 0.8.4, from Maven Central) on a Hugging Face directory of the same shape
# and kind of random weights as CpuBenchmark's synthetic GGUF models: prefill and decode tokens/s.
#
#   tests/bench/jlama-bench.sh SHAPE [THREADS] [PROMPT_TOKENS] [GEN_TOKENS] [REPS] [WEIGHTS...]
#
# SHAPE: small (~410M) or llama32-1b. WEIGHTS: BF16 (as stored), Q4 and/or I8 (Jlama quantizes at load);
# default "BF16 Q4". Needs the provider's test classes (./mvnw -pl provider test-compile): the directory is
# written by its TwinModels (once, into ${JLAMA_DIR:-/tmp/offload4j-bench}/hf-SHAPE-bf16). NICE=-20 as in
# cpu-vs-llama-cpp.sh. Needs a JDK 25 (JAVA, JAVA_HOME, or one under /usr/lib/jvm).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
shape=${1:?shape: small or llama32-1b}
threads=${2:-2}
prompt=${3:-512}
gen=${4:-128}
reps=${5:-3}
shift $(( $# < 5 ? $# : 5 ))
weights=("$@")
if [[ ${#weights[@]} -eq 0 ]]; then weights=(BF16 Q4); fi
java=${JAVA:-}
if [[ -z "$java" ]]; then
  for c in "${JAVA_HOME:-}/bin/java" /usr/lib/jvm/*25*/bin/java; do
    if [[ -x "$c" ]] && "$c" -version 2>&1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; then java=$c; break; fi
  done
fi
[[ -n "$java" ]] || { echo "no JDK 25 found: set JAVA=/path/to/java" >&2; exit 1; }
work=${JLAMA_DIR:-/tmp/offload4j-bench}
mkdir -p "$work"
./mvnw -B -q -f tests/bench/jlama/pom.xml dependency:build-classpath -Dmdep.outputFile="$work/jlama.cp" >/dev/null
./mvnw -B -q -pl provider dependency:build-classpath -Dmdep.includeScope=test -Dmdep.outputFile="$work/provider.cp" >/dev/null
cp="provider/target/test-classes:provider/target/classes:$(cat "$work/provider.cp"):$(cat "$work/jlama.cp")"
flags=(-Xmx14g --add-modules jdk.incubator.vector --enable-preview --enable-native-access=ALL-UNNAMED)
dir="$work/hf-$shape-bf16"
if [[ ! -f "$dir/model.safetensors" ]]; then
  "$java" "${flags[@]}" -cp "$cp" tests/bench/jlama/JlamaBench.java write "$dir" "$shape" BF16
fi
nice_cmd=()
if [[ -n "${NICE:-}" ]]; then nice_cmd=(nice -n "$NICE"); fi
for w in "${weights[@]}"; do
  "${nice_cmd[@]}" "$java" "${flags[@]}" -cp "$cp" tests/bench/jlama/JlamaBench.java run "$dir" "$threads" "$prompt" "$gen" "$reps" "$w" \
    2>&1 | grep -v -e '^WARNING' -e '^SLF4J'
done

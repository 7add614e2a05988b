#!/usr/bin/env bash
# offload4j vs llama.cpp on the CPU, same GGUF files, same thread count, one run.
#
#   tests/bench/cpu-vs-llama-cpp.sh [--llama-bench PATH] [CpuBenchmark options...]
#
# Builds the project (skipping tests), then runs io.offload4j.bench.CpuBenchmark. Without
# --llama-bench (or LLAMA_BENCH=PATH in the environment) only offload4j is measured; build the
# peer with tests/bench/build-llama-cpp.sh SRC_DIR BUILD_DIR first. Extra JVM flags: JAVA_OPTS
# (e.g. JAVA_OPTS="-XX:+FlightRecorder -XX:StartFlightRecording=filename=bench.jfr").
# Needs a JDK 25: JAVA (a java binary), JAVA_HOME, or one under /usr/lib/jvm or ~/.jdks.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

find_java() {
  if [[ -n "${JAVA:-}" ]]; then echo "$JAVA"; return; fi
  local c
  for c in "${JAVA_HOME:-}/bin/java" /usr/lib/jvm/*25*/bin/java "$HOME"/.jdks/*25*/bin/java; do
    if [[ -x "$c" ]] && "$c" -version 2>&1 | grep -Eq 'version "(2[5-9]|[3-9][0-9])'; then echo "$c"; return; fi
  done
  echo "no JDK 25 found: set JAVA=/path/to/java" >&2
  exit 1
}
java=$(find_java)

if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  ./mvnw -q -B install -DskipTests -pl tests -am
fi

args=()
if [[ -n "${LLAMA_BENCH:-}" ]]; then args+=(--llama-bench "$LLAMA_BENCH"); fi
# PROVIDER_CLASSES: another build of the provider (e.g. a baseline commit) to measure instead.
cp="${PROVIDER_CLASSES:-provider/target/classes}:tests/target/classes"
# shellcheck disable=SC2086
exec "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g -Xms2g \
  ${JAVA_OPTS:-} -cp "$cp" io.offload4j.bench.CpuBenchmark "${args[@]}" "$@"

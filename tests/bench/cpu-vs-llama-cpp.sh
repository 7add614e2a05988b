#!/usr/bin/env bash
# offload4j vs llama.cpp on the CPU, same GGUF files, same thread count, one run.
#
#   tests/bench/cpu-vs-llama-cpp.sh [--llama-bench PATH] [CpuBenchmark options...]
#
# Builds the project (skipping tests), then runs io.offload4j.bench.CpuBenchmark. Without
# --llama-bench (or LLAMA_BENCH=PATH in the environment) only offload4j is measured; the peer is a
# llama-bench you built yourself (CPU backend; the project keeps no recipe for building other projects). Extra JVM flags: JAVA_OPTS
# (e.g. JAVA_OPTS="-XX:+FlightRecorder -XX:StartFlightRecording=filename=bench.jfr").
# NICE=-20 (as root) runs the benchmark, and llama-bench under it, ahead of everything else on
# the machine: on a shared machine this keeps other processes from distorting the numbers. Where
# the kernel groups processes by session (sched_autogroup), it runs in a session of its own whose
# autogroup gets that nice value too; otherwise nice alone would only rank it within its session.
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
if [[ -n "${NICE:-}" && -z "${OFFLOAD4J_BENCH_SESSION:-}" ]]; then
  # Re-run this script in a new session (a new autogroup), then raise that group's priority.
  export OFFLOAD4J_BENCH_SESSION=1 SKIP_BUILD=1
  exec setsid --wait "$0" "$@"
fi
nice_cmd=()
if [[ -n "${NICE:-}" ]]; then
  if [[ -w /proc/self/autogroup ]]; then echo "$NICE" > /proc/self/autogroup || true; fi
  nice_cmd=(nice -n "$NICE")
fi
exec "${nice_cmd[@]}" "$java" --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx8g -Xms2g \
  ${JAVA_OPTS:-} -cp "$cp" io.offload4j.bench.CpuBenchmark "${args[@]}" "$@"

#!/usr/bin/env bash
# Builds everything the GPU test suite and benchmark need into one folder that can travel to a GPU
# machine with no Java, Maven or network there (see ../../README.md "GPU" and tests/gpu/run.sh).
#
#   tests/gpu/bundle.sh [OUTDIR]      (default: target/gpu-bundle, ignored by git)
#
# OUTDIR gets: jre.txz (a jlink'd Java 25 runtime), lib/ (our jars with test classes, runtime
# dependencies, JCuda with only its driver-API native library, JUnit's console launcher), shared/models
# (stories260K and the K-quant set, for the whole-model tests), run.sh and peer_hf.py. About 45 MB. HOST_PROFILER=1
# adds prof/libasyncProfiler.so (see below).
# On the GPU machine: `bash OUTDIR/run.sh` (reports go to $OUT).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="${1:-$root/target/gpu-bundle}"
case "$out" in /*) ;; *) out="$PWD/$out" ;; esac
shared="${OFFLOAD4J_SHARED:-$root/../shared}"
m2="${M2_REPO:-$HOME/.m2/repository}"
JDK="${JDK25:-$(ls -d /usr/lib/jvm/temurin-25* 2>/dev/null | head -n1)}"
junit_version=6.1.3

cd "$root"
./mvnw -q -B install -DskipTests
rm -rf "$out"
mkdir -p "$out/lib" "$out/shared/models"

# Java runtime: the modules the engine and the JUnit launcher use (no chat templates, so no java.desktop
# for Jinjava). Uncompressed image + xz: 16 MB instead of 28 MB for a zip-compressed image + gzip.
tmpjre="$(mktemp -d)"
"$JDK/bin/jlink" --add-modules java.base,java.logging,jdk.unsupported,jdk.incubator.vector,java.management,java.xml,jdk.zipfs \
    --compress=zip-0 --strip-debug --no-header-files --no-man-pages --output "$tmpjre/jre"
tar cJf "$out/jre.txz" -C "$tmpjre" jre
rm -rf "$tmpjre"

# Jars: provider (main + tests), its runtime dependencies, the console launcher.
cp provider/target/langchain4j-offload-*-SNAPSHOT.jar provider/target/langchain4j-offload-*-tests.jar "$out/lib/"
# The test fixtures under provider/src/test/resources travel with the repository itself (the device copies the
# working tree): run.sh puts that folder on the class path, so the bundle leaves its copies out of the tests jar.
(cd "$out/lib" && zip -q -d langchain4j-offload-*-tests.jar 'transformers/*' 'quant/*' 'nomic/*' >/dev/null || true)
# The CUDA fatbin (8.7 MB) is in the working tree too (provider/src/main/resources): run.sh puts that folder on the
# class path ahead of the jar, so the jar travels without its copy. Earlier builds (ALT) keep theirs.
(cd "$out/lib" && zip -q -d "$(ls langchain4j-offload-*.jar | grep -v -- -tests.jar)" \
    'io/offload4j/backend/cuda/offload4j.fatbin' >/dev/null || true)
# The reliability programs (ProviderSoak for the GPU soak: run.sh with SOAK=1).
cp tests/target/offload4j-tests-*-SNAPSHOT.jar "$out/lib/"
(cd provider && ../mvnw -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$out/lib")
# JCuda's natives jar carries NVRTC and the PTX compiler too (24 MB); we only load the driver API.
natives=$(ls "$out"/lib/jcuda-natives-*.jar)
tmpn="$(mktemp -d)"
(cd "$tmpn" && unzip -q "$natives" && rm -f lib/libJNvPTXCompiler* lib/libJNvrtc* lib/libJCudaRuntime* \
    && rm "$natives" && zip -q -r "$natives" .)
rm -rf "$tmpn"
cp "$m2/org/junit/platform/junit-platform-console-standalone/$junit_version/junit-platform-console-standalone-$junit_version.jar" "$out/lib/" \
    || { echo "fetch it once: ./mvnw dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$junit_version"; exit 1; }

# Reference models for the whole-model tests (SHARED_MODELS=0 leaves them out when the 64 MiB carry limit is near:
# the tests that need them skip).
if [ -d "$shared/models" ] && [ "${SHARED_MODELS:-1}" = 1 ]; then
    cp "$shared/models/stories260K.gguf" "$out/shared/models/" 2>/dev/null || true
    cp -r "$shared/models/kquant" "$out/shared/models/" 2>/dev/null || true
fi
# Earlier builds to time against this one in the same call: ALT="name=provider.jar name2=other.jar".
for a in ${ALT:-}; do
    mkdir -p "$out/alt/${a%%=*}" && cp "${a#*=}" "$out/alt/${a%%=*}/"
done
# A host profiler for the Java side of a GPU step (HOST_PROFILER=1; 0.55 MB): async-profiler's Linux x64 agent from
# Maven Central. run.sh JAVA_OPTS="-agentpath:$BUNDLE/prof/libasyncProfiler.so=start,event=itimer,interval=100us,threads,file=$OUT/prof.collapsed,collapsed"
# writes collapsed stacks per thread (C2-compiled frames and the JNI/driver frames below them).
if [ "${HOST_PROFILER:-0}" = 1 ]; then
    ap_version=4.1
    ./mvnw -q -B dependency:get -Dartifact=tools.profiler:async-profiler:$ap_version -Dtransitive=false
    mkdir -p "$out/prof"
    unzip -q -o -j "$m2/tools/profiler/async-profiler/$ap_version/async-profiler-$ap_version.jar" \
        'linux-x64/libasyncProfiler.so' -d "$out/prof"
fi
cp tests/gpu/run.sh tests/gpu/hf_compare.sh tests/gpu/*.py "$out/"
du -sh "$out"

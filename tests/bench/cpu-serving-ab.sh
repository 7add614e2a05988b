# One A/B round of ServingBenchmark on the CPU (410M-shaped synthetic llama, Q8_0): the engine classes of a build
# before against this one's, the same benchmark classes, alternating, twice. Arguments: the benchmark's own.
#   XMX=12g bash tests/bench/cpu-serving-ab.sh --concurrency 8 --prompt 512 --reply 32 --shared-prefix 256
# Set up first: a worktree of the build before at /tmp/before (`./mvnw -o -q -pl provider -am package -DskipTests`
# there); here `./mvnw -q -o -pl provider test-compile dependency:build-classpath -Dmdep.outputFile=/tmp/cp.txt
# -Dmdep.includeScope=test`, and provider/target/{classes,test-classes} copied to /tmp/now.
J=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java
DEPS=$(cat /tmp/cp.txt)
BEFORE="/tmp/now/test-classes:/tmp/before/provider/target/langchain4j-offload-0.1.0-SNAPSHOT.jar:$DEPS"
NOW="/tmp/now/test-classes:/tmp/now/classes:$DEPS"
run() {
  $J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx${XMX:-12g} -cp "$2" \
    io.offload4j.engine.ServingBenchmark --shape small --quant Q8_0 --device cpu --dir /tmp/sbench "${@:3}" \
    2>/dev/null | grep -v "^$" | sed "s/^/$1 /"
}
for i in 1 2; do
  run before "$BEFORE" "$@"
  run now "$NOW" "$@"
done

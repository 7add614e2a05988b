# A/B of the CPU KV cache pages (tests/bench/kv-pages-cpu-410m-q8_0.md): the engine classes of the build before
# (a worktree of 3039eaa, `./mvnw -o -q -pl provider -am package -DskipTests` there) against this one's, the same
# benchmark classes, alternating. Before it: ./mvnw -q -o -pl provider test-compile dependency:build-classpath
# -Dmdep.outputFile=/tmp/cp.txt -Dmdep.includeScope=test, and copy provider/target/{classes,test-classes} to /tmp/now.
J=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java
DEPS=$(cat /tmp/cp.txt)
BEFORE="/tmp/now/test-classes:/tmp/before/provider/target/langchain4j-offload-0.1.0-SNAPSHOT.jar:$DEPS"
NOW="/tmp/now/test-classes:/tmp/now/classes:$DEPS"
run() { $J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx12g -cp "$2" io.offload4j.engine.ServingBenchmark --shape small --quant Q8_0 --device cpu --dir /tmp/sbench "${@:3}" 2>/dev/null | grep -v "^$" | sed "s/^/$1 /"; }
for i in 1 2; do
  run before "$BEFORE" --concurrency 8 --prompt 512 --reply 32 --shared-prefix 256
  run now "$NOW" --concurrency 8 --prompt 512 --reply 32 --shared-prefix 256
done
for i in 1 2; do
  run before "$BEFORE" --concurrency 1,4 --prompt 1024 --reply 48
  run now "$NOW" --concurrency 1,4 --prompt 1024 --reply 48
done
echo ALLDONE

# A/B of the CPU heap admission (tests/bench/heap-admission-cpu-410m-q8_0.md); set up as tests/bench/kv-pages-ab.sh says.
J=/usr/lib/jvm/temurin-25-jdk-amd64/bin/java
DEPS=$(cat /tmp/cp.txt)
BEFORE="/tmp/now/test-classes:/tmp/before/provider/target/langchain4j-offload-0.1.0-SNAPSHOT.jar:$DEPS"
NOW="/tmp/now/test-classes:/tmp/now/classes:$DEPS"
run() { $J --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -Xmx1g -cp "$2" io.offload4j.engine.ServingBenchmark --shape small --quant Q8_0 --device cpu --dir /tmp/sbench "${@:3}" 2>/dev/null | grep -v "^$" | sed "s/^/$1 /"; }
for i in 1 2; do
  run before "$BEFORE" --concurrency 8 --prompt 512 --reply 64 --context 4096 --max-sequences 0
  run now "$NOW" --concurrency 8 --prompt 512 --reply 64 --context 4096 --max-sequences 0
done
echo ALLDONE

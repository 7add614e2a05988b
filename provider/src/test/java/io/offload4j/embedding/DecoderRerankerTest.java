package io.offload4j.embedding;

import static io.offload4j.embedding.EmbeddingReferenceTest.resource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.engine.ModelFiles;
import io.offload4j.model.Model;
import io.offload4j.tokenizer.Tokenizer;
import io.offload4j.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Qwen3-Reranker's scoring on the hf-qwen3 fixture (a Qwen3ForCausalLM) whose added tokens 2 and 3 are renamed
 * "yes" and "no" in a copy: the prompt is the model card's, and the score is P(yes) from the logits a plain forward
 * pass gives for the same ids.
 */
class DecoderRerankerTest {

    @Test
    void scoreIsTheSoftmaxOfYesAndNoAtTheLastPosition(@TempDir Path tmp) throws IOException {
        Path src = resource("hf-qwen3");
        Path dir = Files.createDirectories(tmp.resolve("qwen3-reranker"));
        try (var files = Files.list(src)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName().toString()));
            }
        }
        String tok = Files.readString(dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("tokenizer.json"), tok.replace("\"<|start_header_id|>\"", "\"yes\"")
                .replace("\"<|end_header_id|>\"", "\"no\""));
        EmbeddingOptions cpu = EmbeddingOptions.DEFAULTS.withDevice("cpu").withThreads(2).withBatchTokens(16);
        List<String> docs = List.of("Offloading streams weights over PCIe.", "Once upon a time.");
        float[] scores;
        int[][] ids = new int[2][];
        try (DecoderReranker reranker = (DecoderReranker) TextScorers.load(dir, cpu, true, null)) {
            scores = reranker.score("what does offloading do?", docs);
            for (int i = 0; i < 2; i++) {
                ids[i] = reranker.tokenize("what does offloading do?", docs.get(i));
            }
        }
        try (Model model = ModelFiles.load(dir); CpuBackend backend = new CpuBackend(2);
             ForwardPass pass = backend.prepare(model, 512, 512)) {
            Tokenizer t = Tokenizers.fromGguf(ModelFiles.tokenizerMetadata(model));
            int[] prefix = t.encode(DecoderReranker.PREFIX, false, true);
            int[] middle = t.encode("<Instruct>: " + DecoderReranker.DEFAULT_INSTRUCTION
                    + "\n<Query>: what does offloading do?\n<Document>: " + docs.get(0), false, false);
            int[] suffix = t.encode(DecoderReranker.SUFFIX, false, true);
            int[] expected = new int[prefix.length + middle.length + suffix.length];
            System.arraycopy(prefix, 0, expected, 0, prefix.length);
            System.arraycopy(middle, 0, expected, prefix.length, middle.length);
            System.arraycopy(suffix, 0, expected, prefix.length + middle.length, suffix.length);
            assertArrayEquals(expected, ids[0], "prefix, instruct/query/document, suffix");
            for (int i = 0; i < 2; i++) {
                float[] logits = new float[model.config().vocabularySize()];
                try (KvCache cache = pass.newKvCache(ids[i].length)) {
                    pass.forward(cache, ids[i], 0, ids[i].length, 0, logits); // one chunk, unlike the scorer's 16
                }
                double yes = logits[t.tokenId("yes")];
                double no = logits[t.tokenId("no")];
                assertEquals(Math.exp(yes) / (Math.exp(yes) + Math.exp(no)), scores[i], 1e-4, "document " + i);
                assertTrue(scores[i] > 0 && scores[i] < 1);
            }
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TextScorers.load(resource("hf-qwen3"), cpu, true, null));
        assertTrue(e.getMessage().contains("\"yes\"/\"no\""), e.getMessage());
    }
}

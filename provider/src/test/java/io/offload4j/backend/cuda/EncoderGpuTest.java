package io.offload4j.backend.cuda;

import static io.offload4j.embedding.EmbeddingReferenceTest.assertCosine;
import static io.offload4j.embedding.EmbeddingReferenceTest.f32;
import static io.offload4j.embedding.EmbeddingReferenceTest.ints;
import static io.offload4j.embedding.EmbeddingReferenceTest.json;
import static io.offload4j.embedding.EmbeddingReferenceTest.resource;
import static io.offload4j.embedding.EmbeddingReferenceTest.strings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import io.offload4j.backend.EncoderPass;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.embedding.EmbeddingOptions;
import io.offload4j.embedding.TextEmbedder;
import io.offload4j.embedding.TextEmbedders;
import io.offload4j.embedding.TextScorer;
import io.offload4j.embedding.TextScorers;
import io.offload4j.gguf.GgmlType;
import io.offload4j.langchain4j.OffloadEmbeddingModel;
import io.offload4j.model.EncoderModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

/**
 * BERT-family encoders on the GPU ({@link CudaEncoderPass}): hidden states and re-ranker logits against the CPU pass
 * on the transformers fixtures, as the directory (F32) and as GGUF conversions in F16 and Q8_0 (both passes decode the
 * same weights, so they agree to fp32 rounding); embeddings and logits against transformers' own numbers (cosine
 * 0.9999, logits 1e-4); several inputs packed in one pass against each alone; and the LangChain4j model on
 * {@code device=cuda} end to end.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class EncoderGpuTest {

    /** fp32 on both sides, different summation orders: normwise relative error of the hidden states. */
    private static final double HIDDEN_TOLERANCE = 1e-4;

    static CudaBackend gpu;
    static CpuBackend cpu;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void open() {
        gpu = new CudaBackend(0);
        cpu = new CpuBackend(2);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
        if (cpu != null) {
            cpu.close();
        }
    }

    // ------------------------------------------------------------------ GPU against the CPU pass

    @Test
    void bertHiddenStatesMatchTheCpuPassInF32F16AndQ8_0() throws IOException {
        Path dir = resource("hf-bert");
        int[][] inputs = idsOf(json(dir.resolve("ref-embed.json")));
        compareWithCpu("hf-bert F32 directory", dir, inputs, false);
        for (GgmlType type : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.Q8_0}) {
            Path gguf = EncoderGgufFixtures.bert(dir, type, tmp.resolve("bert-" + type + ".gguf"));
            compareWithCpu("hf-bert GGUF " + type, gguf, inputs, false);
        }
    }

    @Test
    void rerankerHiddenStatesAndLogitsMatchTheCpuPassInF32F16AndQ8_0() throws IOException {
        Path dir = resource("hf-xlmr-reranker");
        int[][] inputs = idsOf(json(dir.resolve("ref-scores.json")));
        compareWithCpu("hf-xlmr-reranker F32 directory", dir, inputs, true);
        for (GgmlType type : new GgmlType[] {GgmlType.F16, GgmlType.Q8_0}) {
            Path gguf = EncoderGgufFixtures.reranker(dir, type, tmp.resolve("xlmr-" + type + ".gguf"));
            compareWithCpu("hf-xlmr-reranker GGUF " + type, gguf, inputs, true);
        }
    }

    private static void compareWithCpu(String what, Path path, int[][] inputs, boolean logits) {
        try (EncoderModel model = EncoderModel.load(path);
             EncoderPass onCpu = cpu.prepareEncoder(model, 256);
             EncoderPass onGpu = gpu.prepareEncoder(model, 256)) {
            Packed p = Packed.of(inputs);
            float[] want = p.run(onCpu);
            float[] got = p.run(onGpu);
            double err = GpuTests.relErr(got, want);
            GpuTests.report(String.format("encoder %s: hidden states GPU vs CPU rel err %.2e (%d rows)", what, err,
                    p.rows));
            assertTrue(err <= HIDDEN_TOLERANCE, what + ": hidden states differ from the CPU pass by " + err);
            if (logits) {
                int labels = model.config().labels();
                float[] lw = new float[inputs.length * labels];
                float[] lg = new float[inputs.length * labels];
                onCpu.classify(want, p.lengths, inputs.length, lw);
                onGpu.classify(got, p.lengths, inputs.length, lg);
                for (int i = 0; i < lw.length; i++) {
                    GpuTests.report(String.format("encoder %s: logit %d GPU %.6f CPU %.6f", what, i, lg[i], lw[i]));
                    assertEquals(lw[i], lg[i], 1e-4, what + ": logit " + i);
                }
            }
        }
    }

    // ------------------------------------------------------------------ GPU against transformers

    @Test
    void bertEmbeddingsOnTheGpuMatchSentenceTransformers() throws IOException {
        Path dir = resource("hf-bert");
        JsonNode ref = json(dir.resolve("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        float[][] expected = f32(dir.resolve("ref-embed.f32"), texts.size(), 64);
        try (TextEmbedder bert = TextEmbedders.load(dir, EmbeddingOptions.DEFAULTS.withDevice("cuda"))) {
            List<float[]> got = bert.embed(texts);
            for (int i = 0; i < texts.size(); i++) {
                GpuTests.report(String.format("encoder hf-bert on the GPU: text %d cosine %.7f vs sentence-transformers",
                        i, cosine(expected[i], got.get(i))));
                assertCosine(expected[i], got.get(i), "GPU, text " + i);
            }
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(expected[i], bert.embed(List.of(texts.get(i))).getFirst(), "GPU alone, text " + i);
            }
        }
        float[][] cls = f32(dir.resolve("ref-cls-unnormalised.f32"), texts.size(), 64);
        try (TextEmbedder bert = TextEmbedders.load(dir, EmbeddingOptions.DEFAULTS.withDevice("cuda")
                .withPooling(io.offload4j.embedding.Pooling.CLS).withNormalize(false))) {
            List<float[]> got = bert.embed(texts);
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(cls[i], got.get(i), "GPU CLS, text " + i);
                for (int j = 0; j < 64; j++) {
                    assertEquals(cls[i][j], got.get(i)[j], 1e-4f, "GPU CLS state " + i + "[" + j + "]");
                }
            }
        }
    }

    @Test
    void rerankerLogitsOnTheGpuMatchTransformers() throws IOException {
        Path dir = resource("hf-xlmr-reranker");
        JsonNode ref = json(dir.resolve("ref-scores.json"));
        JsonNode pairs = ref.path("pairs");
        try (TextScorer raw = TextScorers.load(dir, EmbeddingOptions.DEFAULTS.withDevice("cuda"), false, null)) {
            for (int i = 0; i < pairs.size(); i++) {
                String q = pairs.get(i).get(0).asText();
                String d = pairs.get(i).get(1).asText();
                double expected = ref.path("scores").get(i).asDouble();
                float got = raw.score(q, List.of(d))[0];
                GpuTests.report(String.format("encoder hf-xlmr-reranker on the GPU: pair %d logit %.6f, transformers"
                        + " %.6f", i, got, expected));
                assertEquals(expected, got, 1e-4, "logit of pair " + i);
            }
            String q = pairs.get(0).get(0).asText();
            float[] both = raw.score(q, List.of(pairs.get(0).get(1).asText(), pairs.get(1).get(1).asText()));
            assertEquals(ref.path("scores").get(0).asDouble(), both[0], 1e-4, "packed pair 0");
            assertEquals(ref.path("scores").get(1).asDouble(), both[1], 1e-4, "packed pair 1");
        }
    }

    // ------------------------------------------------------------------ packing

    @Test
    void inputsPackedInOnePassEqualEachAlone() throws IOException {
        Path dir = resource("hf-bert");
        // lengths across the attention's 8-row query tiles and 32-key tiles, up to the 64-token limit
        int[] lengths = {1, 7, 33, 64, 13, 2, 40, 9, 8, 31};
        SplittableRandom random = new SplittableRandom(20);
        int[][] inputs = new int[lengths.length][];
        for (int s = 0; s < lengths.length; s++) {
            inputs[s] = new int[lengths[s]];
            for (int t = 0; t < lengths[s]; t++) {
                inputs[s][t] = random.nextInt(273);
            }
        }
        try (EncoderModel model = EncoderModel.load(dir); EncoderPass onGpu = gpu.prepareEncoder(model, 256);
             EncoderPass onCpu = cpu.prepareEncoder(model, 256)) {
            Packed all = Packed.of(inputs);
            float[] packed = all.run(onGpu);
            assertTrue(GpuTests.relErr(packed, all.run(onCpu)) <= HIDDEN_TOLERANCE, "packed pass vs the CPU");
            int dim = model.config().embeddingLength();
            int row = 0;
            double worst = 0;
            for (int[] input : inputs) {
                float[] alone = Packed.of(new int[][] {input}).run(onGpu);
                float[] slice = java.util.Arrays.copyOfRange(packed, row * dim, (row + input.length) * dim);
                double err = GpuTests.relErr(slice, alone);
                worst = Math.max(worst, err);
                assertTrue(err <= 1e-5, "input of " + input.length + " tokens: packed vs alone differ by " + err);
                row += input.length;
            }
            GpuTests.report(String.format("encoder packing: %d inputs (%d rows) packed vs alone, worst rel err %.2e",
                    inputs.length, all.rows, worst));
            // a pass smaller than the inputs refuses, and a bad token never reaches the device
            try (EncoderPass small = gpu.prepareEncoder(model, 2)) {
                assertThrows(IllegalArgumentException.class, () -> Packed.of(new int[][] {{1, 2, 3}}).run(small));
            }
            int[][] bad = {{1, 273}};
            assertThrows(IllegalArgumentException.class, () -> Packed.of(bad).run(onGpu));
            // the pass still works after the refusals
            float[] again = Packed.of(new int[][] {inputs[0]}).run(onGpu);
            assertEquals(0.0, GpuTests.relErr(again, Packed.of(new int[][] {inputs[0]}).run(onGpu)), 0.0);
        }
    }

    // ------------------------------------------------------------------ LangChain4j, device cuda

    @Test
    void offloadEmbeddingModelOnCudaEmbedsLikeTheCpu() throws IOException {
        Path dir = resource("hf-bert");
        JsonNode ref = json(dir.resolve("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        float[][] expected = f32(dir.resolve("ref-embed.f32"), texts.size(), 64);
        try (OffloadEmbeddingModel onGpu = OffloadEmbeddingModel.builder().modelPath(dir).device("cuda").build();
             OffloadEmbeddingModel onCpu = OffloadEmbeddingModel.builder().modelPath(dir).device("cpu").threads(2)
                     .build()) {
            List<TextSegment> segments = texts.stream().map(TextSegment::from).toList();
            List<Embedding> got = onGpu.embedAll(segments).content();
            List<Embedding> want = onCpu.embedAll(segments).content();
            assertEquals(texts.size(), got.size());
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(expected[i], got.get(i).vector(), "LangChain4j on cuda, text " + i);
                assertTrue(cosine(want.get(i).vector(), got.get(i).vector()) >= 0.99999, "GPU vs CPU, text " + i);
            }
            assertEquals(64, onGpu.dimension());
        }
    }

    // ------------------------------------------------------------------ helpers

    private static int[][] idsOf(JsonNode ref) {
        JsonNode ids = ref.path("ids");
        int[][] out = new int[ids.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = ints(ids.get(i));
        }
        return out;
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    /** Inputs packed as an {@link EncoderPass} takes them (token type 0 throughout). */
    record Packed(int[] ids, int[] types, int[] lengths, int rows) {

        static Packed of(int[][] inputs) {
            List<Integer> all = new ArrayList<>();
            int[] lengths = new int[inputs.length];
            for (int s = 0; s < inputs.length; s++) {
                lengths[s] = inputs[s].length;
                for (int id : inputs[s]) {
                    all.add(id);
                }
            }
            int[] ids = all.stream().mapToInt(Integer::intValue).toArray();
            return new Packed(ids, new int[ids.length], lengths, ids.length);
        }

        float[] run(EncoderPass pass) {
            float[] hidden = new float[rows * pass.config().embeddingLength()];
            pass.encode(ids, types, lengths, lengths.length, hidden);
            return hidden;
        }
    }
}

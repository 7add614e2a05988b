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
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

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
import jcuda.driver.CUstream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * BERT-family encoders on the GPU ({@link CudaEncoderPass}): hidden states and re-ranker logits against the CPU pass
 * on the transformers fixtures, as the directory (F32) and as GGUF conversions in F16 and Q8_0 (both passes decode the
 * same weights, so they agree to fp32 rounding); embeddings and logits against transformers' own numbers (cosine
 * 0.9999, logits 1e-4); several inputs packed in one pass against each alone; and the LangChain4j model on
 * {@code device=cuda} end to end. nomic-bert (rotary positions, SwiGLU, no biases) the same way on the tiny F32 and
 * F16 GGUFs of {@code resources/nomic}: against the CPU pass, against llama.cpp's vectors, packed against alone, the
 * rotary and SwiGLU kernels against double precision, and through LangChain4j.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class EncoderGpuTest {

    /** fp32 on both sides, different summation orders: normwise relative error of the hidden states. */
    private static final double HIDDEN_TOLERANCE = 1e-4;

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();
    static CpuBackend cpu;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void open() {
        cpu = new CpuBackend(2);
    }

    @AfterAll
    static void close() {
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
             EncoderPass onGpu = gpu.backend().prepareEncoder(model, 256)) {
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
        try (EncoderModel model = EncoderModel.load(dir); EncoderPass onGpu = gpu.backend().prepareEncoder(model, 256);
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
            try (EncoderPass small = gpu.backend().prepareEncoder(model, 2)) {
                assertThrows(IllegalArgumentException.class, () -> Packed.of(new int[][] {{1, 2, 3}}).run(small));
            }
            int[][] bad = {{1, 273}};
            assertThrows(IllegalArgumentException.class, () -> Packed.of(bad).run(onGpu));
            // the pass still works after the refusals
            float[] again = Packed.of(new int[][] {inputs[0]}).run(onGpu);
            assertEquals(0.0, GpuTests.relErr(again, Packed.of(new int[][] {inputs[0]}).run(onGpu)), 0.0);
        }
    }

    // ------------------------------------------------------------------ the kernels alone, at real models' sizes

    /**
     * Both GEMM kernels (the fixtures are too small for the wide one) against a double-precision product, with bias
     * and each activation, over sizes that are and are not multiples of the tiles and of 4 (the wide kernel's
     * vector loads).
     */
    @Test
    void gemmKernelsMatchADoubleReference() {
        CudaBackend backend = gpu.backend();
        backend.device().makeCurrent();
        int[][] sizes = {{300, 200, 132}, {37, 130, 130}, {1, 64, 64}, {513, 384, 1536}, {129, 1536, 384}};
        int[] acts = {CudaEncoderKernels.ACT_NONE, CudaEncoderKernels.ACT_GELU_ERF, CudaEncoderKernels.ACT_GELU_TANH};
        CUstream stream = new CUstream();
        cuStreamCreate(stream, 0);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            int c = 0;
            for (int[] size : sizes) {
                int m = size[0];
                int n = size[1];
                int k = size[2];
                SplittableRandom random = new SplittableRandom(m * 31L + n * 7L + k);
                float[] a = randoms(random, m * k, 1f);
                float[] b = randoms(random, n * k, (float) (1 / Math.sqrt(k)));
                float[] bias = randoms(random, n, 0.5f);
                for (String variant : new String[] {"simple", "wide"}) {
                    int act = acts[c++ % acts.length];
                    CudaEncoderKernels enc = new CudaEncoderKernels(backend.kernels(),
                            backend.device().multiprocessors(), variant);
                    var out = buf.alloc(4L * m * n);
                    enc.gemm(stream, buf.of(a), buf.of(b), buf.of(bias), out, m, n, k, act);
                    cuStreamSynchronize(stream);
                    double[] want = new double[m * n];
                    for (int i = 0; i < m; i++) {
                        for (int j = 0; j < n; j++) {
                            double y = bias[j];
                            for (int q = 0; q < k; q++) {
                                y += (double) a[i * k + q] * b[j * k + q];
                            }
                            want[i * n + j] = activation(y, act);
                        }
                    }
                    double err = GpuTests.relErr(GpuTests.Buffers.floats(out, m * n), want);
                    GpuTests.report(String.format("encoder enc_gemm %s %d×%d×%d act %d: rel err %.2e", variant, m, n,
                            k, act, err));
                    assertTrue(err <= 1e-5, variant + " GEMM " + m + "×" + n + "×" + k + ": rel err " + err);
                }
            }
        } finally {
            cuStreamDestroy(stream);
        }
    }

    /** Packed bidirectional attention at BERT's head sizes (64, and the largest, 128) against double precision. */
    @Test
    void attentionKernelMatchesADoubleReference() {
        CudaBackend backend = gpu.backend();
        backend.device().makeCurrent();
        int[] lengths = {1, 5, 70, 200, 31, 8};
        int rows = java.util.Arrays.stream(lengths).sum();
        int heads = 3;
        CUstream stream = new CUstream();
        cuStreamCreate(stream, 0);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            for (int hd : new int[] {64, 128}) {
                int dim = heads * hd;
                SplittableRandom random = new SplittableRandom(hd);
                float[] qkv = randoms(random, rows * 3 * dim, 1f);
                int[] start = new int[rows];
                int[] end = new int[rows];
                for (int s = 0, r = 0; s < lengths.length; r += lengths[s], s++) {
                    for (int t = r; t < r + lengths[s]; t++) {
                        start[t] = r;
                        end[t] = r + lengths[s];
                    }
                }
                float scale = (float) (1 / Math.sqrt(hd));
                var out = buf.alloc(4L * rows * dim);
                new CudaEncoderKernels(backend.kernels(), backend.device().multiprocessors()).attention(stream,
                        buf.of(qkv), buf.of(start), buf.of(end), out, rows, heads, hd, scale);
                cuStreamSynchronize(stream);
                double[] want = new double[rows * dim];
                for (int t = 0; t < rows; t++) {
                    for (int h = 0; h < heads; h++) {
                        double[] p = new double[end[t] - start[t]];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < p.length; j++) {
                            double dot = 0;
                            for (int d = 0; d < hd; d++) {
                                dot += (double) qkv[t * 3 * dim + h * hd + d]
                                        * qkv[(start[t] + j) * 3 * dim + dim + h * hd + d];
                            }
                            p[j] = dot * scale;
                            max = Math.max(max, p[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j < p.length; j++) {
                            p[j] = Math.exp(p[j] - max);
                            sum += p[j];
                        }
                        for (int d = 0; d < hd; d++) {
                            double o = 0;
                            for (int j = 0; j < p.length; j++) {
                                o += p[j] * qkv[(start[t] + j) * 3 * dim + 2 * dim + h * hd + d];
                            }
                            want[t * dim + h * hd + d] = o / sum;
                        }
                    }
                }
                double err = GpuTests.relErr(GpuTests.Buffers.floats(out, rows * dim), want);
                GpuTests.report(String.format("encoder enc_attention hd %d, %d rows in %d inputs: rel err %.2e", hd,
                        rows, lengths.length, err));
                assertTrue(err <= 1e-5, "attention, head size " + hd + ": rel err " + err);
            }
        } finally {
            cuStreamDestroy(stream);
        }
    }

    private static float[] randoms(SplittableRandom random, int n, float bound) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (random.nextDouble() * 2 - 1) * bound;
        }
        return v;
    }

    private static double activation(double y, int act) {
        return switch (act) {
            case CudaEncoderKernels.ACT_GELU_ERF -> 0.5 * y * (1 + erf(y / Math.sqrt(2)));
            case CudaEncoderKernels.ACT_GELU_TANH -> 0.5 * y * (1 + Math.tanh(Math.sqrt(2 / Math.PI)
                    * (y + 0.044715 * y * y * y)));
            default -> y;
        };
    }

    /** The error function by its Taylor series (|x| small) or the continued fraction of erfc, to double precision. */
    private static double erf(double x) {
        double z = Math.abs(x);
        double r;
        if (z < 3) {
            double term = z;
            double sum = z;
            for (int n = 1; n < 200 && Math.abs(term) > 1e-17; n++) {
                term *= -z * z / n;
                sum += term / (2 * n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = 0;
            for (int n = 60; n >= 1; n--) {
                f = n / 2.0 / (z + f);
            }
            r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
        }
        return x < 0 ? -r : r;
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

    // ------------------------------------------------------------------ nomic-bert (rotary positions, SwiGLU)

    private static final String[] NOMIC_FILES = {"tiny-nomic-bert-f32.gguf", "tiny-nomic-bert-f16.gguf"};

    @Test
    void nomicBertHiddenStatesMatchTheCpuPassInF32AndF16() throws IOException {
        int[][] inputs = idsOf(json(nomic("ref-embed.json")));
        for (String file : NOMIC_FILES) {
            compareWithCpu("nomic-bert " + file, nomic(file), inputs, false);
        }
    }

    /** llama.cpp's vectors (cosine 0.9999), all texts packed in one pass and each alone, F32 and F16. */
    @Test
    void nomicBertEmbeddingsOnTheGpuMatchLlamaCpp() throws IOException {
        JsonNode ref = json(nomic("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        for (String file : NOMIC_FILES) {
            JsonNode vectors = ref.path("embeddings").path(file);
            assertEquals(texts.size(), vectors.size(), "reference vectors of " + file);
            try (TextEmbedder nomic = TextEmbedders.load(nomic(file),
                    EmbeddingOptions.DEFAULTS.withDevice("cuda"))) {
                List<float[]> packed = nomic.embed(texts);
                for (int i = 0; i < texts.size(); i++) {
                    float[] expected = floats(vectors.get(i));
                    GpuTests.report(String.format("encoder nomic-bert %s on the GPU: text %d cosine %.7f vs"
                            + " llama.cpp", file, i, cosine(expected, packed.get(i))));
                    assertCosine(expected, packed.get(i), "GPU " + file + " packed, text " + i);
                    assertCosine(expected, nomic.embed(List.of(texts.get(i))).getFirst(),
                            "GPU " + file + " alone, text " + i);
                }
            }
        }
    }

    /**
     * Rotary positions count from 0 within each input: inputs packed in one pass equal each alone, across the
     * attention's tiles and up to the tiny model's 128-token limit, and match the CPU pass.
     */
    @Test
    void nomicBertInputsPackedInOnePassEqualEachAlone() {
        int[] lengths = {1, 9, 128, 33, 2, 70, 8};
        SplittableRandom random = new SplittableRandom(2020);
        int[][] inputs = new int[lengths.length][];
        for (int s = 0; s < lengths.length; s++) {
            inputs[s] = new int[lengths[s]];
            for (int t = 0; t < lengths[s]; t++) {
                inputs[s][t] = random.nextInt(273);
            }
        }
        try (EncoderModel model = EncoderModel.load(nomic(NOMIC_FILES[0]));
             EncoderPass onGpu = gpu.backend().prepareEncoder(model, 256);
             EncoderPass onCpu = cpu.prepareEncoder(model, 256)) {
            assertTrue(model.config().rotary(), "the fixture has rotary positions");
            Packed all = Packed.of(inputs);
            float[] packed = all.run(onGpu);
            double vsCpu = GpuTests.relErr(packed, all.run(onCpu));
            assertTrue(vsCpu <= HIDDEN_TOLERANCE, "nomic-bert packed pass vs the CPU: " + vsCpu);
            int dim = model.config().embeddingLength();
            int row = 0;
            double worst = 0;
            for (int[] input : inputs) {
                float[] alone = Packed.of(new int[][] {input}).run(onGpu);
                float[] slice = java.util.Arrays.copyOfRange(packed, row * dim, (row + input.length) * dim);
                double err = GpuTests.relErr(slice, alone);
                worst = Math.max(worst, err);
                assertTrue(err <= 1e-5, "nomic-bert input of " + input.length + " tokens: packed vs alone differ by "
                        + err);
                row += input.length;
            }
            GpuTests.report(String.format("encoder nomic-bert packing: %d rows, vs CPU %.2e, packed vs alone worst"
                    + " %.2e", all.rows, vsCpu, worst));
        }
    }

    /** enc_rope against double-precision NEOX rotation by each row's position within its input (head sizes 64, 128). */
    @Test
    void ropeKernelMatchesADoubleReference() {
        CudaBackend backend = gpu.backend();
        backend.device().makeCurrent();
        int[] lengths = {3, 1, 130, 17};
        int rows = java.util.Arrays.stream(lengths).sum();
        int heads = 3;
        float base = 10000f;
        CUstream stream = new CUstream();
        cuStreamCreate(stream, 0);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            for (int hd : new int[] {64, 128}) {
                int dim = heads * hd;
                int half = hd / 2;
                io.offload4j.model.EncoderConfig config = new io.offload4j.model.EncoderConfig("rope-test",
                        io.offload4j.model.EncoderConfig.Family.BERT, 10, dim, 1,
                        heads, 4 * dim, 256, 2, 1e-12f, 0, false, 0, false, base);
                EncoderRotaryTables tables = EncoderRotaryTables.of(config, 256);
                float[] qkv = randoms(new SplittableRandom(hd), rows * 3 * dim, 1f);
                int[] start = new int[rows];
                for (int s = 0, r = 0; s < lengths.length; r += lengths[s], s++) {
                    java.util.Arrays.fill(start, r, r + lengths[s], r);
                }
                var dev = buf.of(qkv);
                new CudaEncoderKernels(backend.kernels(), backend.device().multiprocessors()).rope(stream, dev,
                        buf.of(start), buf.of(tables.cos()), buf.of(tables.sin()), rows, heads, hd);
                cuStreamSynchronize(stream);
                double[] want = new double[rows * 3 * dim];
                for (int t = 0; t < rows; t++) {
                    int pos = t - start[t];
                    for (int c = 0; c < 3 * dim; c++) {
                        want[t * 3 * dim + c] = qkv[t * 3 * dim + c];
                    }
                    for (int head = 0; head < 2 * heads; head++) {   // Q's heads, then K's; V stays
                        int at = t * 3 * dim + head * hd;
                        for (int i = 0; i < half; i++) {
                            double angle = pos * Math.pow(base, -2.0 * i / hd);
                            double x0 = qkv[at + i];
                            double x1 = qkv[at + i + half];
                            want[at + i] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
                            want[at + i + half] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
                        }
                    }
                }
                double err = GpuTests.relErr(GpuTests.Buffers.floats(dev, rows * 3 * dim), want);
                GpuTests.report(String.format("encoder enc_rope hd %d, %d rows: rel err %.2e", hd, rows, err));
                assertTrue(err <= 1e-5, "rope, head size " + hd + ": rel err " + err);
            }
        } finally {
            cuStreamDestroy(stream);
        }
    }

    /** enc_swiglu: silu(gate) × up from the stacked [rows][gate | up] buffer into [rows][ffn], odd sizes. */
    @Test
    void swigluKernelMatchesADoubleReference() {
        CudaBackend backend = gpu.backend();
        backend.device().makeCurrent();
        CUstream stream = new CUstream();
        cuStreamCreate(stream, 0);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            for (int[] size : new int[][] {{1, 96}, {37, 3072}, {300, 1001}}) {
                int rows = size[0];
                int ffn = size[1];
                float[] gu = randoms(new SplittableRandom(rows * 7L + ffn), rows * 2 * ffn, 6f);
                var out = buf.alloc(4L * rows * ffn);
                new CudaEncoderKernels(backend.kernels(), backend.device().multiprocessors()).swiglu(stream, buf.of(gu),
                        out, rows, ffn);
                cuStreamSynchronize(stream);
                double[] want = new double[rows * ffn];
                for (int r = 0; r < rows; r++) {
                    for (int i = 0; i < ffn; i++) {
                        double g = gu[r * 2 * ffn + i];
                        want[r * ffn + i] = g / (1 + Math.exp(-g)) * gu[r * 2 * ffn + ffn + i];
                    }
                }
                double err = GpuTests.relErr(GpuTests.Buffers.floats(out, rows * ffn), want);
                GpuTests.report(String.format("encoder enc_swiglu %d×%d: rel err %.2e", rows, ffn, err));
                assertTrue(err <= 1e-6, "swiglu " + rows + "×" + ffn + ": rel err " + err);
            }
        } finally {
            cuStreamDestroy(stream);
        }
    }

    @Test
    void offloadEmbeddingModelOnCudaEmbedsNomicBertLikeLlamaCppAndTheCpu() throws IOException {
        Path gguf = nomic(NOMIC_FILES[0]);
        JsonNode ref = json(nomic("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        JsonNode vectors = ref.path("embeddings").path(NOMIC_FILES[0]);
        try (OffloadEmbeddingModel onGpu = OffloadEmbeddingModel.builder().modelPath(gguf).device("cuda").build();
             OffloadEmbeddingModel onCpu = OffloadEmbeddingModel.builder().modelPath(gguf).device("cpu").threads(2)
                     .build()) {
            List<TextSegment> segments = texts.stream().map(TextSegment::from).toList();
            List<Embedding> got = onGpu.embedAll(segments).content();
            List<Embedding> want = onCpu.embedAll(segments).content();
            assertEquals(texts.size(), got.size());
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(floats(vectors.get(i)), got.get(i).vector(), "LangChain4j nomic-bert on cuda, text " + i);
                assertTrue(cosine(want.get(i).vector(), got.get(i).vector()) >= 0.99999,
                        "nomic-bert GPU vs CPU, text " + i);
            }
            assertEquals(64, onGpu.dimension());
        }
    }

    /** A file of {@code src/test/resources/nomic} (the tiny nomic-bert GGUFs and llama.cpp's ids and vectors). */
    static Path nomic(String name) {
        try {
            return Path.of(EncoderGpuTest.class.getResource("/nomic/" + name).toURI());
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    private static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) a.get(i).asDouble();
        }
        return f;
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

package io.offload4j.backend.cuda;

import static io.offload4j.embedding.EmbeddingReferenceTest.assertCosine;
import static io.offload4j.embedding.EmbeddingReferenceTest.f32;
import static io.offload4j.embedding.EmbeddingReferenceTest.json;
import static io.offload4j.embedding.EmbeddingReferenceTest.resource;
import static io.offload4j.embedding.EmbeddingReferenceTest.strings;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.embedding.BidirectionalEmbeddingTest;
import io.offload4j.embedding.EmbeddingOptions;
import io.offload4j.embedding.EmbeddingReferenceTest;
import io.offload4j.embedding.TextEmbedder;
import io.offload4j.embedding.TextEmbedders;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.Placement;
import io.offload4j.offload.TieredForwardPass;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hidden states and embeddings on the GPU: Qwen3-Embedding-shaped fixture against transformers (as on the CPU,
 * {@code EmbeddingReferenceTest}); packed sequences against each sequence alone; a streamed (offloaded) model against
 * the resident run and against the CPU. The step computes no output head (the hidden states come from the workspace
 * after the output norm).
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class EmbeddingGpuTest {

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();

    @TempDir
    static Path tmp;

    @Test
    void qwen3EmbeddingOnTheGpuMatchesTransformers() throws Exception {
        Path dir = resource("hf-qwen3-embed");
        JsonNode ref = json(dir.resolve("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        float[][] expected = f32(dir.resolve("ref-embed.f32"), texts.size(), 64);
        // float32 matrix-vector kernels only: the same arithmetic as transformers' float32 run
        EmbeddingOptions fp32 = EmbeddingOptions.DEFAULTS.withDevice("cuda")
                .withOffload(OffloadOptions.DEFAULTS.withGemmMinTokens(1 << 20));
        try (TextEmbedder e = TextEmbedders.load(dir, fp32)) {
            List<float[]> got = e.embed(texts);
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(expected[i], got.get(i), "fp32 kernels, text " + i);
            }
        }
        // default: prompts of 16+ rows multiply fp16 activations on tensor cores
        try (TextEmbedder e = TextEmbedders.load(dir, EmbeddingOptions.DEFAULTS.withDevice("cuda"))) {
            List<float[]> got = e.embed(texts);
            double worst = 1;
            for (int i = 0; i < texts.size(); i++) {
                worst = Math.min(worst, cosine(expected[i], got.get(i)));
            }
            GpuTests.report(String.format("qwen3-embed fixture on the GPU, tensor cores: worst cosine %.6f", worst));
            assertTrue(worst >= 0.999, "tensor-core path: worst cosine " + worst);
        }
    }

    /**
     * The bidirectional (gte-Qwen2-style) fixture on the GPU: {@code attn_prefill_bidir} for its multi-token texts
     * (the longest, 85 tokens, spans several key tiles and query blocks), resident and streamed (60 % of the weights
     * on the GPU, one block prefetched, the rest streamed), against the float64 numpy vectors and transformers' when
     * present (cosine ≥ 0.9999), and far from the causal vectors; the causal pass of the same weights gives numpy's
     * causal ones.
     */
    @Test
    void bidirectionalFixtureOnTheGpuMatchesNumpyAndTransformers() throws Exception {
        Path dir = resource("hf-qwen2-bidir");
        JsonNode ref = json(dir.resolve("ref-numpy.json"));
        List<String> texts = strings(ref.path("texts"));
        int[][] ids = new int[texts.size()][];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = EmbeddingReferenceTest.ints(ref.path("ids").get(i));
        }
        float[][] bidir = f32(dir.resolve("ref-numpy-bidir.f32"), texts.size(), 64);
        float[][] causal = f32(dir.resolve("ref-numpy-causal.f32"), texts.size(), 64);
        Path tf = dir.resolve("ref-embed.f32");
        boolean haveTransformers = java.nio.file.Files.isRegularFile(tf);
        List<String> tfTexts = haveTransformers ? strings(json(dir.resolve("ref-embed.json")).path("texts")) : List.of();
        float[][] transformers = haveTransformers ? f32(tf, tfTexts.size(), 64) : null;
        long total;
        long streamedBudget;
        try (Model model = Model.load(dir)) {
            total = OffloadBenchmark.weightBytes(model.weights());
            // a 2-block fixture: the ring of two block-sized slots needs most of the weights' size, so the budget
            // is the smallest one from 60 % up that the planner accepts with something streamed
            streamedBudget = smallestStreamingBudget(model, total);
            OffloadOptions streamed = OffloadOptions.DEFAULTS.withGpuMemoryBudget(streamedBudget)
                    .withPrefetchDepth(1).withPlacement("stream");
            for (OffloadOptions o : new OffloadOptions[] {OffloadOptions.DEFAULTS, streamed}) {
                String how = o == streamed ? "streamed" : "resident";
                try (TieredForwardPass pass = Passes.on(gpu.backend(), model, 128, 256, o)) {
                    if (o == streamed) {
                        assertTrue(pass.plan().count(Placement.STREAMED) > 0, pass.plan().toString());
                    }
                    float[][] b = BidirectionalEmbeddingTest.lastRows(pass, ids, true);
                    float[][] c = BidirectionalEmbeddingTest.lastRows(pass, ids, false);
                    double worst = 1;
                    for (int i = 0; i < ids.length; i++) {
                        assertCosine(bidir[i], b[i], how + " bidirectional, text " + i);
                        assertCosine(causal[i], c[i], how + " causal, text " + i);
                        assertTrue(cosine(causal[i], b[i]) < 0.99, how + ": text " + i + " was not bidirectional");
                        worst = Math.min(worst, cosine(bidir[i], b[i]));
                    }
                    GpuTests.report(String.format("hf-qwen2-bidir %s on the GPU vs numpy: worst cosine %.7f", how,
                            worst));
                }
            }
        }
        EmbeddingOptions resident = EmbeddingOptions.DEFAULTS.withDevice("cuda");
        EmbeddingOptions streamedEmbedder = resident.withOffload(OffloadOptions.DEFAULTS
                .withGpuMemoryBudget(streamedBudget).withPrefetchDepth(1).withPlacement("stream"));
        try (TextEmbedder cpu = TextEmbedders.load(dir, EmbeddingOptions.DEFAULTS.withDevice("cpu").withThreads(2))) {
            List<float[]> onCpu = cpu.embed(texts);
            for (EmbeddingOptions o : new EmbeddingOptions[] {resident, streamedEmbedder}) {
                try (TextEmbedder e = TextEmbedders.load(dir, o)) {
                    List<float[]> got = e.embed(texts); // packed: several texts per pass
                    for (int i = 0; i < texts.size(); i++) {
                        assertCosine(onCpu.get(i), got.get(i), "GPU vs CPU embedder, text " + i);
                        assertCosine(bidir[i], got.get(i), "GPU embedder vs numpy, text " + i);
                    }
                    if (haveTransformers) {
                        List<float[]> tfGot = e.embed(tfTexts);
                        for (int i = 0; i < tfTexts.size(); i++) {
                            assertCosine(transformers[i], tfGot.get(i), "GPU embedder vs transformers, text " + i);
                        }
                    }
                }
            }
        }
        GpuTests.report("hf-qwen2-bidir embedder on the GPU (resident, streamed) = CPU = numpy"
                + (haveTransformers ? " = transformers" : " (no transformers vectors yet)"));
    }

    static Path model(QuantPreset q) {
        Path p = tmp.resolve("embed-" + q + ".gguf");
        if (!p.toFile().exists()) {
            SyntheticModelWriter.write(new SyntheticModelSpec("embed-test", Architecture.QWEN3, 256, 16, 512, 8, 4,
                    32, 512, 256, q, false, 5), p);
        }
        return p;
    }

    /** Three sequences of 5, 17 and 1 tokens, packed. */
    static final int[] LENGTHS = {5, 17, 1};

    static float[] hidden(ForwardPass pass, int[] tokens, int[] lengths, int sequences) {
        return hidden(pass, tokens, lengths, sequences, false);
    }

    static float[] hidden(ForwardPass pass, int[] tokens, int[] lengths, int sequences, boolean bidirectional) {
        int dim = pass.config().embeddingLength();
        int total = 0;
        for (int s = 0; s < sequences; s++) {
            total += lengths[s];
        }
        float[] out = new float[total * dim];
        KvCache[] caches = new KvCache[sequences];
        try {
            for (int s = 0; s < sequences; s++) {
                caches[s] = pass.newKvCache(lengths[s]);
            }
            pass.forwardHidden(caches, tokens, lengths, sequences, out, bidirectional);
        } finally {
            for (KvCache c : caches) {
                if (c != null) {
                    c.close();
                }
            }
        }
        return out;
    }

    /**
     * Causal and bidirectional: packed = alone, streamed = resident, GPU = CPU, on a synthetic F16 model wide enough
     * for the tensor-core path (the 17-row sequence); bidirectional hidden states differ from the causal ones.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void packedStreamedAndCpuHiddenStatesAgree(boolean bidirectional) {
        try (Model model = Model.load(model(QuantPreset.F16))) {
            int vocab = model.config().vocabularySize();
            int dim = model.config().embeddingLength();
            SplittableRandom rnd = new SplittableRandom(3);
            int[] tokens = new int[23];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = rnd.nextInt(vocab);
            }
            float[] resident;
            long total;
            try (TieredForwardPass pass = Passes.on(gpu.backend(), model, 32, 32)) {
                total = pass.plan().residentBytes();
                resident = hidden(pass, tokens, LENGTHS, 3, bidirectional);
                // each sequence alone gives the rows it gave packed
                int at = 0;
                for (int s = 0; s < 3; s++) {
                    int[] one = java.util.Arrays.copyOfRange(tokens, at, at + LENGTHS[s]);
                    float[] alone = hidden(pass, one, new int[] {LENGTHS[s]}, 1, bidirectional);
                    float[] packed = java.util.Arrays.copyOfRange(resident, at * dim, (at + LENGTHS[s]) * dim);
                    assertTrue(GpuTests.relErr(alone, packed) < 1e-2, "sequence " + s + " alone vs packed: "
                            + GpuTests.relErr(alone, packed));
                    at += LENGTHS[s];
                }
            }
            OffloadOptions streamed = OffloadOptions.DEFAULTS.withGpuMemoryBudget(total / 4).withPlacement("stream");
            try (TieredForwardPass pass = Passes.on(gpu.backend(), model, 32, 32, streamed)) {
                assertTrue(pass.plan().count(Placement.STREAMED) > 0, pass.plan().toString());
                float[] got = hidden(pass, tokens, LENGTHS, 3, bidirectional);
                assertEquals(0, GpuTests.relErr(got, resident), 1e-6, "streamed vs resident: same kernels");
            }
            try (CpuBackend cpu = new CpuBackend(2); ForwardPass pass = cpu.prepare(model, 32, 32)) {
                float[] want = hidden(pass, tokens, LENGTHS, 3, bidirectional);
                double err = GpuTests.relErr(resident, want);
                GpuTests.report(String.format("hidden states GPU vs CPU (F16 weights%s): relative error %.2e",
                        bidirectional ? ", bidirectional" : "", err));
                assertTrue(err < 1e-2, "GPU vs CPU hidden states: " + err);
                if (bidirectional) {
                    double apart = GpuTests.relErr(hidden(pass, tokens, LENGTHS, 3, false), want);
                    assertTrue(apart > 0.05, "bidirectional vs causal hidden states differ by only " + apart);
                }
            }
        }
    }

    static double cosine(float[] a, float[] b) {
        double d = 0;
        double x = 0;
        double y = 0;
        for (int i = 0; i < a.length; i++) {
            d += (double) a[i] * b[i];
            x += (double) a[i] * a[i];
            y += (double) b[i] * b[i];
        }
        return d / Math.sqrt(x * y);
    }

    /** The smallest budget from 60 % of the weights up (in steps of 2 %) whose plan streams something. */
    private long smallestStreamingBudget(Model model, long total) {
        for (double f = 0.6; f < 1; f += 0.02) {
            long budget = (long) (f * total);
            try (TieredForwardPass pass = Passes.on(gpu.backend(), model, 128, 256, OffloadOptions.DEFAULTS
                    .withGpuMemoryBudget(budget).withPrefetchDepth(1).withPlacement("stream"))) {
                if (pass.plan().count(Placement.STREAMED) > 0) {
                    return budget;
                }
            } catch (IllegalArgumentException tooSmall) {
                // below the staging ring: try a larger budget
            }
        }
        throw new AssertionError("no budget below the weights' size streams a unit of this model");
    }
}

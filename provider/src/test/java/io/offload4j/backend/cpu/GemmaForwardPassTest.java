package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.BlockRecipe;
import io.offload4j.model.Model;
import io.offload4j.model.ModelTraits;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.quant.CpuKernels;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Gemma 2 and Gemma 3 on the CPU against the double-precision reference transformer, with a window of 5 positions
 * and prompts of 40 (so sliding blocks see only the window, and their KV cache is a ring that wraps several times):
 * the logits at every position, token by token, in chunks, with every row's logits, and in batches; the ring's size;
 * and the single-block runner a GPU pass hands blocks to.
 */
class GemmaForwardPassTest {

    private static final int WINDOW = 5;
    private static final int CONTEXT = 64;
    private static final int CHUNK = 4;

    @TempDir
    Path dir;

    private static int[] tokens(int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = i == 0 ? 2 : 3 + (i * 131 + 7) % 500;
        }
        return t;
    }

    private Model load(Architecture arch, QuantPreset q, int window) {
        Path p = dir.resolve(arch + "-" + q + "-" + window + ".gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tinyGemma(arch, q, window), p);
        return Model.load(p);
    }

    private static double relativeError(float[] a, double[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < b.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }

    @ParameterizedTest
    @EnumSource(value = Architecture.class, names = {"GEMMA2", "GEMMA3"})
    void theFileSaysWhatGemmaIs(Architecture arch) {
        try (Model m = load(arch, QuantPreset.F32, WINDOW)) {
            ModelTraits t = m.config().traits();
            assertEquals(16f, t.embeddingScale(), "√256");
            assertEquals(WINDOW, t.slidingWindow());
            assertArrayEquals(new boolean[] {true, false, true, false}, t.slidingBlocks());
            assertEquals((float) (1 / Math.sqrt(32)), t.attentionScale(), "1/√headDim");
            assertEquals(arch == Architecture.GEMMA2 ? 50f : 0f, t.attentionSoftcap());
            assertEquals(arch == Architecture.GEMMA2 ? 30f : 0f, t.finalSoftcap());
            assertEquals(arch == Architecture.GEMMA2 ? 10000f : 1e6f, m.config().ropeFreqBase());
            assertEquals(10000f, t.slidingRopeBase());
            List<BlockRecipe> steps = BlockRecipe.of(m.weights().blocks().getFirst());
            assertTrue(steps.containsAll(List.of(BlockRecipe.ATTENTION_POST_NORM, BlockRecipe.GATE_UP_GEGLU,
                    BlockRecipe.FFN_POST_NORM)), steps.toString());
            assertEquals(arch == Architecture.GEMMA3, steps.contains(BlockRecipe.QK_NORM));
            assertTrue(!steps.contains(BlockRecipe.GATE_UP_SWIGLU));
            assertEquals(BlockRecipe.FFN_POST_NORM, steps.getLast());
            assertTrue(m.weights().tiedEmbeddings());
        }
    }

    @ParameterizedTest
    @EnumSource(value = Architecture.class, names = {"GEMMA2", "GEMMA3"})
    void everyPositionMatchesTheReferenceThroughTheRing(Architecture arch) {
        int[] tokens = tokens(40);
        try (Model m = load(arch, QuantPreset.F32, WINDOW);
             ForwardPass pass = new CpuBackend(2).prepare(m, CONTEXT, CHUNK)) {
            double[][] reference = new ReferenceTransformer(m).allLogits(tokens);
            int vocab = m.config().vocabularySize();
            float[] logits = new float[vocab];
            try (KvCache cache = pass.newKvCache(CONTEXT)) {
                assertEquals(CHUNK, cache.maxRewind(), "a ring may be rewound by a chunk");
                for (int p = 0; p < tokens.length; p++) {
                    pass.forward(cache, tokens, p, 1, p, logits);
                    double err = relativeError(logits, reference[p]);
                    assertTrue(err < 1e-4, arch + " decode position " + p + ": relative error " + err);
                }
            }
            try (KvCache cache = pass.newKvCache(CONTEXT)) {
                float[][] rows = new float[CHUNK][vocab];
                for (int p = 0; p < tokens.length; p += CHUNK) {
                    int n = Math.min(CHUNK, tokens.length - p);
                    pass.forwardAll(cache, tokens, p, n, p, rows);
                    for (int i = 0; i < n; i++) {
                        double err = relativeError(rows[i], reference[p + i]);
                        assertTrue(err < 1e-4, arch + " chunk row at " + (p + i) + ": relative error " + err);
                    }
                }
            }
        }
    }

    @Test
    void quantizedGemmaMatchesTheReferenceOnItsOwnWeights() {
        int[] tokens = tokens(23);
        try (Model m = load(Architecture.GEMMA3, QuantPreset.Q8_0, WINDOW);
             ForwardPass pass = new CpuBackend(2).prepare(m, CONTEXT, 8);
             KvCache cache = pass.newKvCache(CONTEXT)) {
            float[] logits = new float[m.config().vocabularySize()];
            for (int p = 0; p < tokens.length; p += 8) {
                pass.forward(cache, tokens, p, Math.min(8, tokens.length - p), p, logits);
            }
            double err = relativeError(logits, new ReferenceTransformer(m).logits(tokens));
            assertTrue(err < 1e-4, "relative error " + err);
        }
    }

    /** Sliding blocks keep 2 × (window + chunk) rows, global ones the whole context. */
    @Test
    void slidingBlocksKeepOnlyTheirRing() {
        try (Model m = load(Architecture.GEMMA2, QuantPreset.F32, WINDOW);
             Model wide = load(Architecture.GEMMA2, QuantPreset.F32, 4096);
             ForwardPass pass = new CpuBackend(1).prepare(m, 256, CHUNK);
             ForwardPass widePass = new CpuBackend(1).prepare(wide, 256, CHUNK);
             KvCache ring = pass.newKvCache(256);
             KvCache full = widePass.newKvCache(256)) {
            CpuKvCache r = (CpuKvCache) ring;
            assertEquals(2 * (WINDOW + CHUNK) + Attention.best().padding(), r.keyStrides[0], "ring rows + padding");
            assertEquals(0, r.keyStrides[1], "a global block is in pages");
            assertEquals(0, ((CpuKvCache) full).keyStrides[0], "a window as wide as the context: in pages");
            assertTrue(ring.byteSize() < full.byteSize() * 0.6, ring.byteSize() + " vs " + full.byteSize());
            assertEquals(Integer.MAX_VALUE, full.maxRewind());
        }
    }

    /** A batch of sequences at different positions (some past the window) equals each sequence decoded alone. */
    @Test
    void batchedDecodeEqualsOneSequenceAtATime() {
        try (Model m = load(Architecture.GEMMA2, QuantPreset.F32, WINDOW);
             ForwardPass pass = new CpuBackend(2).prepare(m, CONTEXT, CHUNK)) {
            int vocab = m.config().vocabularySize();
            int[] lengths = {3, 17, 30};
            KvCache[] caches = new KvCache[lengths.length];
            float[][] alone = new float[lengths.length][vocab];
            int[] next = new int[lengths.length];
            int[] positions = new int[lengths.length];
            try {
                for (int s = 0; s < lengths.length; s++) {
                    int[] t = tokens(lengths[s] + 1);
                    caches[s] = pass.newKvCache(CONTEXT);
                    float[] scratch = new float[vocab];
                    for (int p = 0; p < lengths[s]; p += CHUNK) {
                        pass.forward(caches[s], t, p, Math.min(CHUNK, lengths[s] - p), p, scratch);
                    }
                    next[s] = t[lengths[s]];
                    positions[s] = lengths[s];
                    try (KvCache copy = pass.newKvCache(CONTEXT)) {
                        for (int p = 0; p <= lengths[s]; p++) {
                            pass.forward(copy, t, p, 1, p, alone[s]);
                        }
                    }
                }
                float[][] batched = new float[lengths.length][vocab];
                pass.forwardBatch(caches, next, positions, lengths.length, batched);
                for (int s = 0; s < lengths.length; s++) {
                    double err = relativeError(batched[s], toDouble(alone[s]));
                    assertTrue(err < 1e-4, "sequence " + s + ": relative error " + err);
                }
            } finally {
                for (KvCache c : caches) {
                    if (c != null) {
                        c.close();
                    }
                }
            }
        }
    }

    /** The single-block runner (hybrid GPU steps) on ring caches of another size than the pass's. */
    @Test
    void blockRunnerWritesTheSameKeysAndValuesThroughItsRing() {
        try (Model model = load(Architecture.GEMMA3, QuantPreset.F32, WINDOW)) {
            int layers = model.config().blockCount();
            int dim = model.config().embeddingLength();
            int kvDim = model.config().keyValueDim();
            boolean[] all = new boolean[layers];
            Arrays.fill(all, true);
            int[] tokens = tokens(100); // past the runner's ring of 5 + 64 rows
            int prompt = 12;
            int context = 256;
            try (CpuBackend cpu = new CpuBackend(2);
                 ForwardPass pass = cpu.prepare(model, context, 8);
                 KvCache reference = pass.newKvCache(context);
                 CpuBlockRunner runner = new CpuBlockRunner(model, context, all, 2);
                 KvCache mirror = runner.newKvCache(context)) {
                assertEquals(CpuBlockRunner.RING_SURPLUS, mirror.maxRewind());
                assertEquals(8, reference.maxRewind());
                float[] logits = new float[model.config().vocabularySize()];
                pass.forward(reference, tokens, 0, 8, 0, logits);
                pass.forward(reference, tokens, 8, prompt - 8, 8, logits);
                float[] k = new float[kvDim];
                float[] v = new float[kvDim];
                for (int l = 0; l < layers; l++) {
                    for (int p = 0; p < prompt; p++) {
                        runner.readKv(reference, l, p, k, v);
                        runner.writeKv(mirror, l, p, k, v);
                    }
                }
                float scale = model.config().traits().embeddingScale();
                for (int p = prompt; p < tokens.length; p++) {
                    pass.forward(reference, tokens, p, 1, p, logits);
                    float[] act = new float[dim];
                    var e = model.weights().tokenEmbedding();
                    CpuKernels.of(e.type()).dequantize(e.data(), (long) tokens[p] * e.rowBytes(), act, 0, dim);
                    for (int i = 0; i < dim; i++) {
                        act[i] *= scale; // the GPU hands over the scaled embedding
                    }
                    for (int l = 0; l < layers; l++) {
                        runner.runBlock(l, mirror, act, 1, p);
                        float[] wantK = new float[kvDim];
                        float[] wantV = new float[kvDim];
                        runner.readKv(reference, l, p, wantK, wantV);
                        runner.readKv(mirror, l, p, k, v);
                        assertArrayEquals(wantK, k, 1e-4f, "keys of block " + l + " at " + p);
                        assertArrayEquals(wantV, v, 1e-4f, "values of block " + l + " at " + p);
                    }
                }
            }
        }
    }

    /** fp16 rows handed over in GPU-sized chunks land in the ring, both copies, and the newest win. */
    @Test
    void halfRowsLandInBothCopiesOfTheRing() {
        try (Model model = load(Architecture.GEMMA2, QuantPreset.F32, WINDOW)) {
            int layers = model.config().blockCount();
            int kvDim = model.config().keyValueDim();
            boolean[] all = new boolean[layers];
            Arrays.fill(all, true);
            int positions = 100;
            java.lang.foreign.MemorySegment rows = java.lang.foreign.MemorySegment.ofArray(new byte[4 * positions * kvDim]);
            var half = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
            java.util.Random r = new java.util.Random(5);
            for (int i = 0; i < 2 * positions * kvDim; i++) {
                rows.set(half, 2L * i, Float.floatToFloat16((float) r.nextGaussian()));
            }
            long valuesAt = 2L * positions * kvDim;
            try (CpuBlockRunner runner = new CpuBlockRunner(model, 256, all, 2);
                 KvCache cache = runner.newKvCache(256)) {
                for (int p = 0; p < positions; p += 30) { // chunks of 30, as a GPU prompt step hands them over
                    int n = Math.min(30, positions - p);
                    runner.writeKvRowsHalves(cache, 0, p, n, rows, 2L * p * kvDim, valuesAt + 2L * p * kvDim);
                }
                CpuKvCache c = (CpuKvCache) cache;
                int ring = WINDOW + CpuBlockRunner.RING_SURPLUS;
                float[] k = new float[kvDim];
                float[] v = new float[kvDim];
                for (int p = positions - ring; p < positions; p++) {
                    runner.readKv(cache, 0, p, k, v);
                    for (int j = 0; j < kvDim; j++) {
                        assertEquals(Float.float16ToFloat(rows.get(half, 2L * (p * kvDim + j))), k[j], "key " + p);
                        assertEquals(Float.float16ToFloat(rows.get(half, valuesAt + 2L * (p * kvDim + j))), v[j],
                                "value " + p);
                        int row = c.slot(0, p);
                        assertEquals(c.keys[0][j * c.keyStrides[0] + row], c.keys[0][j * c.keyStrides[0] + row + ring]);
                        assertEquals(c.values[0][row * kvDim + j], c.values[0][(row + ring) * kvDim + j]);
                    }
                }
            }
        }
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) {
            d[i] = f[i];
        }
        return d;
    }
}

package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.MixedStepCheck;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link CpuForwardPass#forwardBatch} against one {@link CpuForwardPass#forward} call per sequence: sequences at
 * different positions with KV caches of different capacities, several decode steps in a row (so that later steps
 * read the keys and values the batched steps wrote), batch sizes that take the fused single-row path (1), the
 * small-batch GEMM (3), the packed GEMM (8) and more rows than the activation buffers hold (20, in groups).
 */
class CpuForwardBatchTest {

    private static final int STEPS = 3;

    @TempDir
    Path dir;

    private Model model(Architecture arch, QuantPreset q) {
        Path p = dir.resolve(arch + "-" + q + ".gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(arch, q).withTiedEmbeddings(arch == Architecture.QWEN2), p);
        return Model.load(p);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"LLAMA, F32", "LLAMA, Q8_0", "QWEN2, F32", "QWEN3, F32", "QWEN3, Q4_K_M"})
    void batchedDecodeEqualsPerSequenceDecode(Architecture arch, QuantPreset quant) {
        try (Model m = model(arch, quant); ForwardPass pass = new CpuBackend(2).prepare(m, 64, 4)) {
            for (int batch : new int[] {1, 3, 8, 20}) {
                compare(m, pass, batch, arch + " " + quant + " batch " + batch);
            }
        }
    }

    /**
     * A mixed step (several rows of one sequence beside the others' rows, as speculative decoding verifies drafts):
     * each row's logits are those of one-token steps of its sequence alone, within rounding; also for a sliding-window
     * ring (gemma2, window 5, whose ring the rows wrap), a mixture of experts, and more rows than the activation
     * buffers hold (a sequence's rows then straddle two groups).
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"LLAMA, F32", "LLAMA, Q8_0", "QWEN3, Q4_K_M", "QWEN3MOE, F32", "GEMMA2, F32"})
    void aSequencesRowsInAStepGiveTheLogitsOfItsOneTokenSteps(Architecture arch, QuantPreset quant) {
        Path p = dir.resolve(arch + "-" + quant + "-mixed.gguf");
        SyntheticModelWriter.write(arch == Architecture.GEMMA2 ? SyntheticModelSpec.tinyGemma(arch, quant, 5)
                : SyntheticModelSpec.tiny(arch, quant), p);
        try (Model m = Model.load(p); ForwardPass pass = new CpuBackend(2).prepare(m, 64, 4)) {
            double small = MixedStepCheck.worstDifference(pass, 64, new int[] {3, 1, 2}, new int[] {1, 4, 1});
            assertTrue(small < 1e-4, arch + " " + quant + ": mixed step off by " + small);
            // 3 × 4 + 6 + 1 = 19 rows: more than the 16 rows of the activation buffers
            double large = MixedStepCheck.worstDifference(pass, 64, new int[] {4, 4, 4, 4, 1, 1, 1},
                    new int[] {2, 4, 4, 4, 4, 1, 1});
            assertTrue(large < 1e-4, arch + " " + quant + ": mixed step of 19+ rows off by " + large);
        }
    }

    /**
     * Prefills {@code batch} sequences of different lengths twice (identically), then decodes {@link #STEPS}
     * tokens: one copy through forwardBatch, the other through forward, one sequence at a time.
     */
    private static void compare(Model m, ForwardPass pass, int batch, String what) {
        int vocab = m.config().vocabularySize();
        SplittableRandom random = new SplittableRandom(batch);
        KvCache[] batched = new KvCache[batch];
        KvCache[] single = new KvCache[batch];
        int[] tokens = new int[batch];
        int[] positions = new int[batch];
        float[][] batchLogits = new float[batch][vocab];
        float[][] singleLogits = new float[batch][vocab];
        try {
            for (int b = 0; b < batch; b++) {
                int capacity = 40 + b; // different key strides
                batched[b] = pass.newKvCache(capacity);
                single[b] = pass.newKvCache(capacity);
                int length = 1 + (b * 7) % 23; // prompts of 1..23 tokens: every sequence at its own position
                int[] prompt = new int[length];
                for (int i = 0; i < length; i++) {
                    prompt[i] = random.nextInt(vocab);
                }
                for (int pos = 0; pos < length; pos += pass.maxChunkTokens()) {
                    int n = Math.min(pass.maxChunkTokens(), length - pos);
                    pass.forward(batched[b], prompt, pos, n, pos, singleLogits[b]);
                    pass.forward(single[b], prompt, pos, n, pos, singleLogits[b]);
                }
                tokens[b] = argmax(singleLogits[b]);
                positions[b] = length;
            }
            for (int step = 0; step < STEPS; step++) {
                pass.forwardBatch(batched, tokens, positions, batch, batchLogits);
                for (int b = 0; b < batch; b++) {
                    pass.forward(single[b], tokens, b, 1, positions[b], singleLogits[b]);
                    String where = what + ", step " + step + ", sequence " + b + " at position " + positions[b];
                    // One row takes forward's own path; even so, not bit for bit: the Vector API's lane
                    // reductions may sum in another order once the JIT has compiled them.
                    assertClose(singleLogits[b], batchLogits[b], batch == 1 ? 1e-6 : 1e-4, where);
                }
                for (int b = 0; b < batch; b++) {
                    tokens[b] = argmax(singleLogits[b]);
                    positions[b]++;
                }
            }
        } finally {
            for (int b = 0; b < batch; b++) {
                if (batched[b] != null) {
                    batched[b].close();
                }
                if (single[b] != null) {
                    single[b].close();
                }
            }
        }
    }

    /** Rounding only: the batch sums each dot product in a different order than the single-token kernel. */
    private static void assertClose(float[] expected, float[] actual, double tolerance, String where) {
        double maxDiff = 0;
        double maxAbs = 0;
        for (int i = 0; i < expected.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(actual[i] - expected[i]));
            maxAbs = Math.max(maxAbs, Math.abs(expected[i]));
        }
        assertTrue(maxAbs > 0, where + ": logits are all zero");
        assertTrue(maxDiff <= tolerance * Math.max(1, maxAbs), where + ": logits differ by " + maxDiff
                + " (max |logit| " + maxAbs + ")");
    }

    @Test
    void badBatchesAreRefusedBeforeAnyWork() {
        try (Model m = model(Architecture.LLAMA, QuantPreset.F32); ForwardPass pass = new CpuBackend(1).prepare(m, 16, 4);
             KvCache a = pass.newKvCache(16); KvCache b = pass.newKvCache(8)) {
            int vocab = m.config().vocabularySize();
            float[][] logits = new float[2][vocab];
            MixedStepCheck.assertBadRowsAreRefused(pass, 16);
            String position = assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(new KvCache[] {a, b},
                    new int[] {1, 2}, new int[] {3, 8}, 2, logits)).getMessage();
            assertTrue(position.contains("sequence 1") && position.contains("position 8")
                    && position.contains("8 positions"), position);
            String token = assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(new KvCache[] {a, b},
                    new int[] {1, vocab}, new int[] {0, 0}, 2, logits)).getMessage();
            assertTrue(token.contains("sequence 1") && token.contains("token " + vocab), token);
            String size = assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(new KvCache[] {a, b},
                    new int[] {1, 2}, new int[] {0, 0}, 3, logits)).getMessage();
            assertTrue(size.contains("batch of 3"), size);
            String foreign = assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(
                    new KvCache[] {a, null}, new int[] {1, 2}, new int[] {0, 0}, 2, logits)).getMessage();
            assertTrue(foreign.contains("sequence 1") && foreign.contains("no KV cache"), foreign);
        }
    }

    /**
     * The per-token loop allocates nothing (nor does a prefill chunk): after warm-up (the JIT has compiled the kernels; until then the
     * interpreter boxes vectors), a batched step allocates 0 bytes. One thread, so all the work runs on the
     * caller's thread, whose allocation counter this reads.
     */
    @Test
    void aBatchedStepAllocatesNothing() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        try (Model m = model(Architecture.QWEN2, QuantPreset.Q8_0); ForwardPass pass = new CpuBackend(1).prepare(m, 32, 4)) {
            int batch = 5;
            int vocab = m.config().vocabularySize();
            KvCache[] caches = new KvCache[batch];
            int[] tokens = new int[batch];
            int[] positions = new int[batch];
            float[][] logits = new float[batch][vocab];
            for (int b = 0; b < batch; b++) {
                caches[b] = pass.newKvCache(32);
                tokens[b] = 10 + b;
                positions[b] = 2 * b; // positions before are zero-filled: fine for an allocation count
            }
            long allocated;
            long deadline = System.nanoTime() + 30_000_000_000L;
            do {
                long a0 = mx.getCurrentThreadAllocatedBytes();
                for (int i = 0; i < 20; i++) {
                    pass.forwardBatch(caches, tokens, positions, batch, logits);
                    pass.forward(caches[0], tokens, 0, 4, 0, logits[0]); // and prefill, for comparison
                }
                allocated = mx.getCurrentThreadAllocatedBytes() - a0;
            } while (allocated > 0 && System.nanoTime() < deadline);
            assertEquals(0, allocated, "bytes allocated by 20 batched steps and prefill chunks after warm-up");
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}

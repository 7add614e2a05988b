package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link CpuForwardPass#forwardAll} (the verification pass of speculative decoding) against one-token
 * {@link CpuForwardPass#forward} calls: every row's logits, for chunks that take the fused single-row path (1), the
 * small GEMM (3) and the packed GEMM (9, 17); and the rollback of rejected drafts: after a verification whose tail is
 * rejected, the next token is written over the rejected position, and every later step equals a sequence that never
 * saw the rejected tokens. (No allocation test here: forwardAll adds no allocation of its own, but an in-suite check
 * of a mix of chunk sizes was at the mercy of C2's compilations of the Vector API kernels, whose boxing depends on the
 * profiles earlier tests left; see the provider README.)
 */
class CpuForwardAllTest {

    @TempDir
    Path dir;

    private Model model(Architecture arch, QuantPreset q) {
        Path p = dir.resolve(arch + "-" + q + ".gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(arch, q).withTiedEmbeddings(arch == Architecture.QWEN2), p);
        return Model.load(p);
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"LLAMA, F32", "LLAMA, Q8_0", "QWEN2, F32", "QWEN3, Q4_K_M"})
    void everyRowEqualsAOneTokenDecodeAndRejectedRowsAreOverwritten(Architecture arch, QuantPreset quant) {
        try (Model m = model(arch, quant); ForwardPass pass = new CpuBackend(2).prepare(m, 96, 32)) {
            for (int count : new int[] {1, 3, 9, 17}) {
                for (int accepted : new int[] {0, count / 2, count - 1}) {
                    compare(m, pass, count, accepted, arch + " " + quant + " k+1 = " + count + ", accepted "
                            + accepted);
                }
            }
        }
    }

    /**
     * Two copies of one prompt; one verifies {@code count} tokens at once, the other decodes the first
     * {@code accepted + 1} of them one by one. Then both take another token at the first rejected position and
     * decode on greedily: the verified copy, whose cache still holds the rejected rows, must equal the other.
     */
    private static void compare(Model m, ForwardPass pass, int count, int accepted, String what) {
        int vocab = m.config().vocabularySize();
        SplittableRandom random = new SplittableRandom(count * 31L + accepted);
        int length = 5 + count;
        int[] prompt = random.ints(length, 0, vocab).toArray();
        int[] chunk = random.ints(count, 0, vocab).toArray();
        float[][] all = new float[count][vocab];
        float[] single = new float[vocab];
        float[] verified = new float[vocab];
        try (KvCache a = pass.newKvCache(96); KvCache b = pass.newKvCache(96)) {
            pass.forward(a, prompt, 0, length, 0, single);
            pass.forward(b, prompt, 0, length, 0, single);
            pass.forwardAll(a, chunk, 0, count, length, all);
            for (int t = 0; t <= accepted; t++) {
                pass.forward(b, chunk, t, 1, length + t, single);
                assertClose(single, all[t], count == 1 ? 1e-6 : 1e-4, what + ", row " + t);
            }
            // the first rejected position gets another token; the cache of `a` still has the rejected row there
            int[] next = {(chunk[Math.min(accepted + 1, count - 1)] + 1) % vocab};
            int pos = length + accepted + 1;
            for (int step = 0; step < 4; step++, pos++) {
                pass.forward(a, next, 0, 1, pos, verified);
                pass.forward(b, next, 0, 1, pos, single);
                assertClose(single, verified, 1e-6, what + ", decode step " + step + " after the rollback");
                next[0] = argmax(single);
            }
        }
    }

    @Test
    void badCallsAreRefused() {
        try (Model m = model(Architecture.LLAMA, QuantPreset.F32); ForwardPass pass = new CpuBackend(1).prepare(m, 16, 4);
             KvCache a = pass.newKvCache(16)) {
            int vocab = m.config().vocabularySize();
            String rows = assertThrows(IllegalArgumentException.class,
                    () -> pass.forwardAll(a, new int[] {1, 2, 3}, 0, 3, 0, new float[2][vocab])).getMessage();
            assertTrue(rows.contains("3 tokens") && rows.contains("2 logits rows"), rows);
            String chunk = assertThrows(IllegalArgumentException.class,
                    () -> pass.forwardAll(a, new int[5], 0, 5, 0, new float[5][vocab])).getMessage();
            assertTrue(chunk.contains("1..4"), chunk);
            String room = assertThrows(IllegalArgumentException.class,
                    () -> pass.forwardAll(a, new int[3], 0, 3, 14, new float[3][vocab])).getMessage();
            assertTrue(room.contains("14..16") && room.contains("16"), room);
        }
    }

    static void assertClose(float[] expected, float[] actual, double tolerance, String where) {
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

package io.offload4j.testing;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import java.util.SplittableRandom;

/**
 * The check behind mixed steps on every device ({@link ForwardPass#forwardBatch} with several rows of one sequence,
 * as speculative decoding verifies drafts inside the shared step): sequences with prompts of different lengths take
 * two steps whose rows per sequence are given (1: a plain decode row, more: a last token and drafts), the second
 * after each sequence kept only part of its first step's rows (the rest rejected, their positions written again).
 * Every row's logits must equal those of one-token {@code forward} calls on a copy of the sequence run alone.
 */
public final class MixedStepCheck {

    private MixedStepCheck() {}

    /**
     * @param first  rows of each sequence in the first step
     * @param second rows of each sequence in the second step (same number of sequences)
     * @return the worst relative difference of a row's logits ({@link #relativeDifference})
     */
    public static double worstDifference(ForwardPass pass, int context, int[] first, int[] second) {
        int sequences = first.length;
        int vocab = pass.config().vocabularySize();
        SplittableRandom random = new SplittableRandom(sequences * 31L + first[0]);
        KvCache[] mixed = new KvCache[sequences];
        KvCache[] alone = new KvCache[sequences];
        int[] positions = new int[sequences];
        double worst = 0;
        try {
            float[] scratch = new float[vocab];
            for (int s = 0; s < sequences; s++) {
                mixed[s] = pass.newKvCache(context);
                alone[s] = pass.newKvCache(context);
                int length = 9 + 7 * s; // each sequence at its own position
                int[] prompt = random.ints(length, 3, vocab).toArray();
                for (int p = 0; p < length; p += pass.maxChunkTokens()) {
                    int n = Math.min(pass.maxChunkTokens(), length - p);
                    pass.forward(mixed[s], prompt, p, n, p, scratch);
                    pass.forward(alone[s], prompt, p, n, p, scratch);
                }
                positions[s] = length;
            }
            for (int[] rowsOf : new int[][] {first, second}) {
                worst = Math.max(worst, step(pass, mixed, alone, positions, rowsOf, random));
                for (int s = 0; s < sequences; s++) {
                    positions[s] += 1 + random.nextInt(rowsOf[s]); // kept 0..rows-1 drafts and the token after
                }
            }
        } finally {
            for (int s = 0; s < sequences; s++) {
                if (mixed[s] != null) {
                    mixed[s].close();
                }
                if (alone[s] != null) {
                    alone[s].close();
                }
            }
        }
        return worst;
    }

    /** One mixed step against one-token forwards; returns the worst row difference. */
    private static double step(ForwardPass pass, KvCache[] mixed, KvCache[] alone, int[] positions, int[] rowsOf,
                               SplittableRandom random) {
        int vocab = pass.config().vocabularySize();
        int total = 0;
        for (int r : rowsOf) {
            total += r;
        }
        KvCache[] caches = new KvCache[total];
        int[] tokens = new int[total];
        int[] rowPositions = new int[total];
        float[][] logits = new float[total][vocab];
        int row = 0;
        for (int s = 0; s < rowsOf.length; s++) {
            for (int r = 0; r < rowsOf[s]; r++) {
                caches[row] = mixed[s];
                tokens[row] = 3 + random.nextInt(vocab - 3);
                rowPositions[row] = positions[s] + r;
                row++;
            }
        }
        pass.forwardBatch(caches, tokens, rowPositions, total, logits);
        double worst = 0;
        float[] expected = new float[vocab];
        row = 0;
        for (int s = 0; s < rowsOf.length; s++) {
            for (int r = 0; r < rowsOf[s]; r++) {
                pass.forward(alone[s], tokens, row, 1, rowPositions[row], expected);
                worst = Math.max(worst, relativeDifference(logits[row], expected));
                row++;
            }
        }
        return worst;
    }

    /** max |actual − expected| / max |expected|: the GPU tests' measure, whose tolerances it shares. */
    public static double relativeDifference(float[] actual, float[] expected) {
        double diff = 0;
        double largest = 0;
        for (int i = 0; i < expected.length; i++) {
            diff = Math.max(diff, Math.abs(actual[i] - expected[i]));
            largest = Math.max(largest, Math.abs(expected[i]));
        }
        assertTrue(largest > 0, "the expected logits are all zero");
        return diff / largest;
    }

    /**
     * A batch in which a sequence's rows are not adjacent, or not at consecutive positions, is refused before any work,
     * with a message that says which rows.
     */
    public static void assertBadRowsAreRefused(ForwardPass pass, int context) {
        int vocab = pass.config().vocabularySize();
        float[][] logits = new float[3][vocab];
        try (KvCache a = pass.newKvCache(context); KvCache b = pass.newKvCache(context)) {
            String gap = assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(new KvCache[] {a, a, b},
                    new int[] {1, 2, 3}, new int[] {0, 2, 0}, 3, logits)).getMessage();
            assertTrue(gap.contains("rows 0 and 1") && gap.contains("consecutive positions"), gap);
            String apart = assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(new KvCache[] {a, b, a},
                    new int[] {1, 2, 3}, new int[] {0, 0, 1}, 3, logits)).getMessage();
            assertTrue(apart.contains("rows 0 and 2") && apart.contains("not adjacent"), apart);
        }
    }
}

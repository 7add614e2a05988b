package io.offload4j.testing;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import java.util.SplittableRandom;

/**
 * The check behind {@link KvCache#copyPrefix}'s tests on every device: a prompt whose first {@code shared} tokens a
 * lender computed (it went on past them as far as a sliding-window ring allows) copies them into a fresh cache, and
 * its remaining rows give the logits of computing the whole prompt; the same rows without the copy do not (so the
 * check can tell a copy from none). Computing the whole prompt a second time, in a cache of its own, measures what
 * the device itself varies from run to run: the copy may be off by twice that beyond the tolerance, no more (a device
 * whose kernels sum in a fixed order varies by nothing, and then the tolerance alone holds).
 */
public final class PrefixCopyCheck {

    private PrefixCopyCheck() {}

    /**
     * @param chunk      rows of each prompt chunk
     * @param suffixRows rows per step after the prefix: 1 runs one-token {@code forward} steps (decode), more
     *                   {@code forwardAll} chunks
     * @param tolerance  normwise, per row
     */
    public static void assertCopiedPrefixGivesTheComputedLogits(ForwardPass pass, int context, int chunk, int shared,
                                                                 int suffixRows, double tolerance, String label) {
        int vocab = pass.config().vocabularySize();
        int[] lenderTokens = new SplittableRandom(1).ints(shared + 20, 3, vocab).toArray();
        int[] prompt = new SplittableRandom(2).ints(shared + 24, 3, vocab).toArray();
        System.arraycopy(lenderTokens, 0, prompt, 0, shared);
        int tail = prompt.length - shared;
        float[][] expected = new float[tail][vocab];
        float[][] copied = new float[tail][vocab];
        float[][] uncopied = new float[tail][vocab];
        float[][] again = new float[tail][vocab];
        try (KvCache reference = pass.newKvCache(context);
             KvCache repeat = pass.newKvCache(context);
             KvCache lender = pass.newKvCache(context);
             KvCache target = pass.newKvCache(context);
             KvCache empty = pass.newKvCache(context)) {
            run(pass, reference, prompt, 0, shared, chunk, null);
            run(pass, reference, prompt, shared, prompt.length, suffixRows, expected);
            run(pass, repeat, prompt, 0, shared, chunk, null);
            run(pass, repeat, prompt, shared, prompt.length, suffixRows, again);
            int computed = (int) Math.min(lenderTokens.length, (long) shared + lender.maxRewind());
            run(pass, lender, lenderTokens, 0, computed, chunk, null);
            assertTrue(target.canCopyPrefix(lender), label + ": the caches of one pass copy");
            target.copyPrefix(lender, shared);
            run(pass, target, prompt, shared, prompt.length, suffixRows, copied);
            run(pass, empty, prompt, shared, prompt.length, suffixRows, uncopied);
        }
        double err = maxRelativeError(copied, expected);
        double runToRun = maxRelativeError(again, expected);
        double bound = tolerance + 2 * runToRun;
        assertTrue(err < bound, label + ": copied prefix, logits off by " + err + " (computing it twice: " + runToRun
                + ")");
        double without = maxRelativeError(uncopied, expected);
        assertTrue(without > Math.max(1e-2, 5 * bound), label + ": the prefix matters to these logits (" + without
                + " without it)");
    }

    /**
     * Runs {@code tokens[from, to)} in steps of {@code rows}; row t's logits into {@code out[t - from]} if given.
     * Without {@code out} the steps are prompt chunks ({@code forward}: the last row's logits), as the engine computes
     * a prompt: a {@code forwardAll} of several rows is a speculative verification, whose route a tiered pass chooses
     * by timing (HybridRoutes: the CPU blocks on the CPU or streamed), so the lender's prefix and the reference's could
     * come from different devices and differ by their rounding.
     */
    private static void run(ForwardPass pass, KvCache cache, int[] tokens, int from, int to, int rows,
                            float[][] out) {
        int vocab = pass.config().vocabularySize();
        float[][] logits = new float[rows][vocab];
        for (int p = from; p < to; p += rows) {
            int n = Math.min(rows, to - p);
            if (out == null) {
                pass.forward(cache, tokens, p, n, p, logits[0]);
                continue;
            }
            if (n == 1) {
                pass.forward(cache, tokens, p, 1, p, logits[0]);
            } else {
                pass.forwardAll(cache, tokens, p, n, p, logits);
            }
            for (int i = 0; i < n; i++) {
                System.arraycopy(logits[i], 0, out[p + i - from], 0, vocab);
            }
        }
    }

    private static double maxRelativeError(float[][] ours, float[][] ref) {
        double worst = 0;
        for (int t = 0; t < ref.length; t++) {
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < ref[t].length; i++) {
                diff = Math.max(diff, Math.abs(ours[t][i] - ref[t][i]));
                norm = Math.max(norm, Math.abs(ref[t][i]));
            }
            worst = Math.max(worst, diff / Math.max(norm, 1e-6));
        }
        return worst;
    }
}

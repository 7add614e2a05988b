package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * {@link Sampler#verify}, the speculative sampling rule for a drafted token, leaves the distribution of the chosen
 * token exactly that of {@link Sampler#sample}: a chi-square goodness-of-fit test of 40,000 draws against the
 * distribution computed here (softmax at the temperature over the tokens top-k keeps), for drafts that are likely,
 * unlikely, and outside the candidates; and how often the draft is kept equals its probability.
 */
class SamplerVerifyTest {

    private static final float[] LOGITS = {2.0f, 1.5f, 1.0f, 0.2f, -0.5f, 0.9f, -2f, 0.0f};
    private static final int DRAWS = 40_000;

    /** The target distribution: temperature {@code t} over the {@code topK} largest logits (0: all). */
    static double[] distribution(float[] logits, double t, int topK) {
        int n = logits.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, (a, b) -> Float.compare(logits[b], logits[a]));
        int keep = topK > 0 ? topK : n;
        double[] p = new double[n];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[order[i]] = Math.exp((logits[order[i]] - logits[order[0]]) / t);
            sum += p[order[i]];
        }
        for (int i = 0; i < n; i++) {
            p[i] /= sum;
        }
        return p;
    }

    /** Chi-square statistic of observed counts against probabilities (cells with p = 0 must be empty). */
    static double chiSquare(long[] observed, double[] p, long total, int[] df) {
        double chi = 0;
        int cells = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] == 0) {
                assertEquals(0, observed[i], "a token outside the distribution was chosen: " + i);
                continue;
            }
            double e = p[i] * total;
            chi += (observed[i] - e) * (observed[i] - e) / e;
            cells++;
        }
        df[0] = cells - 1;
        return chi;
    }

    /** The chi-square value exceeded with probability 0.001 (Wilson–Hilferty). */
    static double critical(int df) {
        double z = 3.09;
        double a = 2.0 / (9 * df);
        return df * Math.pow(1 - a + z * Math.sqrt(a), 3);
    }

    @ParameterizedTest(name = "temperature {0}, top-k {1}, draft {2}")
    @CsvSource({"1.0, 0, 0", "1.0, 0, 6", "0.7, 0, 3", "1.0, 4, 1", "1.0, 4, 6", "1.5, 5, 7"})
    void verifiedTokensFollowTheTargetDistribution(double temperature, int topK, int draft) {
        SamplingParams params = new SamplingParams(temperature, topK, 1, 0, 1, 64, 12345L);
        Sampler sampler = new Sampler(params, LOGITS.length);
        double[] p = distribution(LOGITS, temperature, topK);
        long[] counts = new long[LOGITS.length];
        int kept = 0;
        float[] logits = new float[LOGITS.length];
        int[] history = new int[1];
        for (int i = 0; i < DRAWS; i++) {
            System.arraycopy(LOGITS, 0, logits, 0, logits.length);
            int token = sampler.verify(logits, history, 0, draft);
            counts[token]++;
            if (token == draft) {
                kept++;
            }
        }
        int[] df = new int[1];
        double chi = chiSquare(counts, p, DRAWS, df);
        assertTrue(chi < critical(df[0]), "chi-square " + chi + " over " + df[0] + " degrees of freedom (critical "
                + critical(df[0]) + "); counts " + java.util.Arrays.toString(counts));
        double sd = Math.sqrt(p[draft] * (1 - p[draft]) / DRAWS);
        assertEquals(p[draft], kept / (double) DRAWS, 4 * sd + 1e-9, "the draft is kept with its probability");
    }

    @Test
    void greedyKeepsTheDraftOnlyWhenItIsTheArgmax() {
        Sampler sampler = new Sampler(SamplingParams.GREEDY, LOGITS.length);
        assertEquals(0, sampler.verify(LOGITS.clone(), new int[1], 0, 0));
        assertEquals(0, sampler.verify(LOGITS.clone(), new int[1], 0, 3));
    }

    @Test
    void aDraftHoldingAllTheProbabilityIsKept() {
        Sampler sampler = new Sampler(new SamplingParams(1, 1, 1, 0, 1, 64, 1L), LOGITS.length);
        for (int i = 0; i < 100; i++) {
            assertEquals(0, sampler.verify(LOGITS.clone(), new int[1], 0, 0));
            assertEquals(0, sampler.verify(LOGITS.clone(), new int[1], 0, 2), "top-1: a rejected draft gives the top");
        }
    }
}

package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class SamplerTest {

    private static final float[] LOGITS = {1f, 5f, 3f, 4.5f, -2f, 0f};

    private static int[] draw(SamplingParams p, int times) {
        Sampler s = new Sampler(p, LOGITS.length);
        int[] counts = new int[LOGITS.length];
        for (int i = 0; i < times; i++) {
            counts[s.sample(LOGITS.clone(), new int[0], 0)]++;
        }
        return counts;
    }

    @Test
    void greedyPicksTheLargestLogit() {
        Sampler s = new Sampler(SamplingParams.GREEDY, LOGITS.length);
        assertEquals(1, s.sample(LOGITS.clone(), new int[0], 0));
    }

    @Test
    void topKOneIsGreedyEvenWithHighTemperature() {
        int[] counts = draw(SamplingParams.DEFAULTS.withTemperature(5).withTopK(1).withMinP(0).withTopP(1), 200);
        assertEquals(200, counts[1]);
    }

    @Test
    void topKTwoOnlyEverReturnsTheTwoBest() {
        int[] counts = draw(SamplingParams.DEFAULTS.withTemperature(10).withTopK(2).withMinP(0).withTopP(1).withSeed(1L), 2000);
        assertEquals(2000, counts[1] + counts[3]);
        assertTrue(counts[1] > 0 && counts[3] > 0, "both survivors are drawn at a high temperature");
    }

    @Test
    void topPKeepsTheSmallestNucleus() {
        // softmax(LOGITS): p(1)=0.54, p(3)=0.33, p(2)=0.07 ... top-p 0.8 keeps {1, 3}.
        int[] counts = draw(SamplingParams.DEFAULTS.withTemperature(1).withTopK(0).withMinP(0).withTopP(0.8).withSeed(2L), 2000);
        assertEquals(2000, counts[1] + counts[3]);
    }

    @Test
    void minPDropsUnlikelyTokens() {
        // p(3)/p(1) = e^-0.5 = 0.61; p(2)/p(1) = e^-2 = 0.14: min-p 0.2 keeps {1, 3}.
        int[] counts = draw(SamplingParams.DEFAULTS.withTemperature(1).withTopK(0).withTopP(1).withMinP(0.2).withSeed(3L), 2000);
        assertEquals(2000, counts[1] + counts[3]);
    }

    @Test
    void temperatureOneFollowsTheSoftmax() {
        int n = 40_000;
        int[] counts = draw(new SamplingParams(1, 0, 1, 0, 1, 64, 4L), n);
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l);
        }
        for (int i = 0; i < LOGITS.length; i++) {
            double expected = Math.exp(LOGITS[i]) / z;
            assertEquals(expected, counts[i] / (double) n, 0.01, "token " + i);
        }
    }

    @Test
    void aSeedMakesSamplingReproducible() {
        SamplingParams p = new SamplingParams(1.5, 0, 1, 0, 1, 64, 1234L);
        Sampler a = new Sampler(p, LOGITS.length);
        Sampler b = new Sampler(p, LOGITS.length);
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 100; i++) {
            int x = a.sample(LOGITS.clone(), new int[0], 0);
            assertEquals(x, b.sample(LOGITS.clone(), new int[0], 0));
            seen.add(x);
        }
        assertTrue(seen.size() > 2, "a high temperature draws several tokens");
    }

    @Test
    void repeatPenaltyDemotesRecentTokens() {
        SamplingParams p = SamplingParams.GREEDY.withRepeatPenalty(2.0);
        Sampler s = new Sampler(p, LOGITS.length);
        // 5/2 = 2.5 < 4.5: token 3 wins once token 1 was seen (even twice: the penalty applies once).
        assertEquals(3, s.sample(LOGITS.clone(), new int[] {1, 1}, 2));
        // Negative logits are multiplied: token 4 (-2) becomes -4, still last.
        float[] l = LOGITS.clone();
        assertNotEquals(4, s.sample(l, new int[] {4}, 1));
        assertEquals(-4f, l[4]);
        // Only the last repeatLastN tokens count.
        Sampler window = new Sampler(new SamplingParams(0, 0, 1, 0, 2.0, 1, null), LOGITS.length);
        assertEquals(1, window.sample(LOGITS.clone(), new int[] {1, 0}, 2));
    }

    @Test
    void invalidParametersAreRejectedWithTheirName() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplingParams.DEFAULTS.withTemperature(-1))
                .getMessage().contains("temperature"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplingParams.DEFAULTS.withTopP(0))
                .getMessage().contains("topP"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplingParams.DEFAULTS.withTopK(-3))
                .getMessage().contains("topK"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplingParams.DEFAULTS.withMinP(1))
                .getMessage().contains("minP"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> SamplingParams.DEFAULTS.withRepeatPenalty(0))
                .getMessage().contains("repeatPenalty"));
    }

    @Test
    void frequencyAndPresencePenaltiesSubtractAsOpenAiDefinesThem() {
        // token 1 (5.0) occurred twice, token 3 (4.5) once: frequency 0.4 and presence 0.3 give
        // 5 - 2*0.4 - 0.3 = 3.9 and 4.5 - 0.4 - 0.3 = 3.8; token 1 still wins, but only just
        float[] logits = LOGITS.clone();
        Sampler s = new Sampler(SamplingParams.GREEDY.withPenalties(0.4, 0.3), LOGITS.length);
        assertEquals(1, s.sample(logits, new int[] {1, 3, 1}, 3));
        assertEquals(3.9f, logits[1], 1e-6f);
        assertEquals(3.8f, logits[3], 1e-6f);
        assertEquals(3f, logits[2], 0f); // not seen: untouched
        // a stronger frequency penalty makes the repeated token lose
        assertEquals(3, new Sampler(SamplingParams.GREEDY.withPenalties(1.0, 0), LOGITS.length)
                .sample(LOGITS.clone(), new int[] {1, 3, 1}, 3));
        // the window is repeatLastN tokens
        assertEquals(1, new Sampler(new SamplingParams(0, 0, 1, 0, 1, 1, null, 2.0, 0), LOGITS.length)
                .sample(LOGITS.clone(), new int[] {1, 1, 3}, 3));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.GREEDY.withPenalties(2.5, 0));
        assertThrows(IllegalArgumentException.class, () -> SamplingParams.GREEDY.withPenalties(0, -2.5));
    }

    @Test
    void maskedTokensAreNeverDrawn() {
        float[] logits = {Float.NEGATIVE_INFINITY, 1f, Float.NEGATIVE_INFINITY, 1f};
        Sampler s = new Sampler(SamplingParams.DEFAULTS.withTemperature(2).withTopK(4).withMinP(0).withTopP(1)
                .withSeed(3L), 4);
        for (int i = 0; i < 2000; i++) {
            int t = s.sample(logits.clone(), new int[0], 0);
            assertTrue(t == 1 || t == 3, "drew masked token " + t);
        }
    }
}

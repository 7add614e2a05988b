package io.offload4j.engine.speculative;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class AdaptiveDraftLengthTest {

    /** Feeds steps whose drafts are each accepted with chance {@code a} (deterministically: the expected pattern). */
    private static AdaptiveDraftLength settled(double a, int max) {
        AdaptiveDraftLength k = new AdaptiveDraftLength(max);
        java.util.SplittableRandom r = new java.util.SplittableRandom(1);
        for (int step = 0; step < 2000; step++) {
            int drafted = Math.max(1, k.next());
            int accepted = 0;
            while (accepted < drafted && r.nextDouble() < a) {
                accepted++;
            }
            k.record(drafted, accepted);
        }
        return k;
    }

    @Test
    void theLengthFollowsTheAcceptanceRate() {
        assertEquals(4, new AdaptiveDraftLength(16).next(), "a prior of 1 in 2: four tokens");
        assertTrue(settled(0.7, 16).next() >= 6, "about eight at 0.7");
        assertTrue(settled(0.7, 16).next() <= 11);
        assertEquals(16, settled(0.99, 16).next(), "the maximum when nearly everything is accepted");
        assertEquals(5, settled(1.0, 5).next());
    }

    @Test
    void nothingAcceptedFallsBackToPlainDecodingWithOneTokenProbes() {
        AdaptiveDraftLength k = new AdaptiveDraftLength(8);
        int steps = 0;
        while (k.next() > 0) {
            k.record(1, 0);
            steps++;
        }
        assertTrue(steps < 20, "gives up within 20 rejected steps, took " + steps);
        int probes = 0;
        for (int i = 0; i < 10 * AdaptiveDraftLength.PROBE_EVERY; i++) {
            int n = k.next();
            assertTrue(n <= 1);
            if (n == 1) {
                probes++;
                k.record(1, 0);
            }
        }
        assertEquals(10, probes, "one single-token probe every " + AdaptiveDraftLength.PROBE_EVERY + " steps");
        // a run of accepted probes brings drafting back
        for (int i = 0; i < 3; i++) {
            k.record(1, 1);
        }
        assertTrue(k.next() >= 1);
    }

    @Test
    void badRecordsAreRefused() {
        AdaptiveDraftLength k = new AdaptiveDraftLength(4);
        assertThrows(IllegalArgumentException.class, () -> k.record(2, 3));
        assertThrows(IllegalArgumentException.class, () -> k.record(0, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveDraftLength(0));
    }
}

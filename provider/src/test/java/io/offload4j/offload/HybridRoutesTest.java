package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class HybridRoutesTest {

    private static final long MS = 1_000_000;

    /** Runs one step the way TieredForwardPass does: asks for the route, then reports the time that route costs. */
    private static boolean step(HybridRoutes routes, int rows, long hybridNanos, long streamedNanos) {
        boolean hybrid = routes.hybrid(rows);
        routes.took(rows, hybrid, hybrid ? hybridNanos : streamedNanos);
        return hybrid;
    }

    @Test
    void beforeAnyTimingAFewRowsRunHybridAndMoreStream() {
        HybridRoutes routes = new HybridRoutes();
        assertTrue(routes.hybrid(1), "a decode step");
        assertTrue(routes.hybrid(2));
        assertTrue(routes.hybrid(HybridRoutes.PRIOR_HYBRID_ROWS));
        assertFalse(routes.hybrid(HybridRoutes.PRIOR_HYBRID_ROWS + 1));
        assertFalse(routes.hybrid(HybridRoutes.MAX_ROWS + 1), "more rows than the CPU runner takes");
        assertEquals("no step of 2.." + HybridRoutes.MAX_ROWS + " rows yet", routes.report());
    }

    @Test
    void eachRowCountTriesBothRoutesThenKeepsTheFaster() {
        HybridRoutes routes = new HybridRoutes();
        // 9 rows: the CPU's tiles make the hybrid route the faster one here, against the prior (streamed)
        int hybridSteps = 0;
        for (int i = 0; i < 20; i++) {
            hybridSteps += step(routes, 9, 150 * MS, 230 * MS) ? 1 : 0;
        }
        // prior route twice (the first not counted), the other twice, then the faster
        assertEquals(20 - HybridRoutes.SETTLE - 1, hybridSteps);
        assertTrue(routes.hybrid(9));
        // 3 rows, where streaming is faster on this (imagined) host: the prior (hybrid) loses after exploring
        for (int i = 0; i < 10; i++) {
            step(routes, 3, 300 * MS, 200 * MS);
        }
        assertFalse(routes.hybrid(3));
        assertEquals("3 rows: hybrid 300.0 ms, streamed 200.0 ms → streamed; 9 rows: hybrid 150.0 ms, streamed 230.0 ms"
                + " → hybrid", routes.report());
    }

    @Test
    void aRoutesFirstStepIsNotCounted() {
        HybridRoutes routes = new HybridRoutes();
        // the hybrid route's first step pays a warm-up ten times its usual cost
        routes.took(4, true, 2_000 * MS);
        routes.took(4, true, 100 * MS);
        routes.took(4, false, 900 * MS);
        routes.took(4, false, 200 * MS);
        assertTrue(routes.hybrid(4));
        assertTrue(routes.report().contains("4 rows: hybrid 100.0 ms, streamed 200.0 ms"), routes.report());
    }

    @Test
    void theSlowerRouteIsRecheckedAndTakesOverWhenTheMachineChanged() {
        HybridRoutes routes = new HybridRoutes();
        for (int i = 0; i < HybridRoutes.EXPLORATION_STEPS; i++) {
            step(routes, 8, 100 * MS, 200 * MS);
        }
        int streamedSteps = 0;
        for (int i = 0; i < HybridRoutes.RECHECK + 1; i++) {
            streamedSteps += step(routes, 8, 100 * MS, 200 * MS) ? 0 : 1;
        }
        assertEquals(1, streamedSteps, "one recheck of the slower route after " + HybridRoutes.RECHECK + " steps");
        // the CPU gets busy: the hybrid route slows to 400 ms; its mean passes the streamed one after a few steps
        int steps = 0;
        while (routes.hybrid(8) && steps < 20) {
            routes.took(8, true, 400 * MS);
            steps++;
        }
        assertFalse(routes.hybrid(8), routes.report());
        assertTrue(steps <= 4, steps + " steps");
    }
}

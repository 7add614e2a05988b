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
    void aFewRowsRunHybridAndMoreStreamUntilTimed() {
        HybridRoutes routes = new HybridRoutes();
        assertTrue(routes.hybrid(1), "a decode step");
        for (int i = 0; i < 200; i++) {
            assertTrue(step(routes, HybridRoutes.PRIOR_HYBRID_ROWS, 900 * MS, 100 * MS),
                    "not explored while nothing has streamed");
        }
        assertFalse(routes.hybrid(HybridRoutes.PRIOR_HYBRID_ROWS + 1));
        assertFalse(routes.hybrid(HybridRoutes.MAX_ROWS + 1), "more rows than the CPU runner takes");
        assertEquals("up to 5 rows hybrid until timed; streamed –; 5 rows: hybrid 900.0 ms → hybrid", routes.report());
    }

    @Test
    void aFewRowsStreamOnceStreamingMeasuredFaster() {
        // the 30B-shaped Q4_K_M on the H100 host (session 21): 2 rows 214 ms hybrid, 4 rows 300, streamed 241
        HybridRoutes routes = new HybridRoutes();
        for (int i = 0; i < 4; i++) {
            assertTrue(step(routes, 2, 214 * MS, 241 * MS));
            assertTrue(step(routes, 4, 300 * MS, 241 * MS), "the prior, while nothing has streamed");
        }
        for (int i = 0; i < 2; i++) {
            assertFalse(step(routes, 8, 380 * MS, 241 * MS), "8 rows stream first: the streamed time");
        }
        assertTrue(routes.hybrid(2), "faster hybrid");
        assertFalse(routes.hybrid(4), "slower hybrid than streamed: " + routes.report());
        assertFalse(routes.hybrid(5), "more rows than a count slower hybrid: not tried");
        assertTrue(routes.hybrid(3), "between a faster and a slower one: tried");
        assertEquals("up to 5 rows hybrid until timed; streamed 241.0 ms; 2 rows: hybrid 214.0 ms → hybrid; 4 rows:"
                + " hybrid 300.0 ms → streamed", routes.report());
    }

    @Test
    void aRowCountAboveThePriorStreamsTwiceThenTriesHybridTwiceThenKeepsTheFaster() {
        HybridRoutes routes = new HybridRoutes();
        // 9 rows on a host whose CPU tiles make the hybrid route faster: streamed, streamed, hybrid, hybrid, then hybrid
        StringBuilder routesTaken = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            routesTaken.append(step(routes, 9, 180 * MS, 230 * MS) ? 'h' : 's');
        }
        assertEquals("sshhhhhh", routesTaken.toString());
        // the streamed time is shared: 12 rows tries hybrid at once, and streams once it measured slower
        routesTaken.setLength(0);
        for (int i = 0; i < 5; i++) {
            routesTaken.append(step(routes, 12, 300 * MS, 230 * MS) ? 'h' : 's');
        }
        assertEquals("hhsss", routesTaken.toString());
        // a larger row count than one that was slower hybrid streams without trying
        assertFalse(routes.hybrid(14));
        assertTrue(routes.hybrid(10), "below the slower one: tried");
        assertEquals("up to 5 rows hybrid until timed; streamed 230.0 ms; 9 rows: hybrid 180.0 ms → hybrid; 12 rows: hybrid 300.0 ms"
                + " → streamed", routes.report());
    }

    @Test
    void aRoutesFirstStepIsNotCounted() {
        HybridRoutes routes = new HybridRoutes();
        routes.took(8, false, 2_000 * MS); // the first streamed step pays a warm-up
        routes.took(8, false, 200 * MS);
        routes.took(8, true, 5_000 * MS);  // and so does the first hybrid one
        routes.took(8, true, 150 * MS);
        assertTrue(routes.hybrid(8));
        assertTrue(routes.report().contains("streamed 200.0 ms; 8 rows: hybrid 150.0 ms → hybrid"), routes.report());
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

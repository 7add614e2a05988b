package io.offload4j.offload;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.cpu.CpuBlockRunner;
import java.util.Locale;

/**
 * Whether a step of a few rows of one sequence (a speculative verification) runs the plan's CPU blocks on the CPU, as
 * a decode step does (the hybrid route), or streams them to the accelerator with the rest — chosen per row count by
 * the time each route took on this machine.
 *
 * <p>The CPU reads each weight once for all rows, but its multiply-adds grow with them; streaming costs the same for
 * any number of rows. Where the two cross depends on the host's cores and vector units and on the PCIe link: on one
 * lent H100 host (8B F16, 25 % budget, 17 CPU blocks, 16 cores) 2–5 rows cost 152 ms hybrid against 229 ms streamed and
 * 9 rows 261 ms against 229 ms, and that was before the CPU's 4 × 4 register tiles made its 8–15-row steps cheaper.
 * A constant from one machine would be wrong on the next, so each row count is timed on both routes:
 * <ul>
 *   <li>until a row count has a settled time on its prior route, it takes that route: hybrid up to
 *       {@link #PRIOR_HYBRID_ROWS} rows, streamed above (what was measured above);</li>
 *   <li>then it tries the other route until that one has a settled time too;</li>
 *   <li>then it takes the faster, and every {@link #RECHECK} steps gives the slower one step, in case the machine's
 *       load changed.</li>
 * </ul>
 * A route's first step is not counted (it pays for warm-ups: a capture, a first copy into pinned memory); later ones
 * update an exponentially weighted mean, weight ¼ for a new step. One row (a decode step) is always hybrid; more than
 * {@link #MAX_ROWS} always stream (the CPU runner and the accelerator's K/V staging take no more). Not thread-safe:
 * the pass it belongs to runs one step at a time. Nothing here allocates after construction.
 */
final class HybridRoutes {

    /** The most rows the hybrid route takes: what the CPU block runner and the accelerator's K/V staging hold. */
    static final int MAX_ROWS = Math.min(CpuBlockRunner.MAX_ROWS, AcceleratorModel.KV_ROWS_PER_STEP);

    /** Rows a step takes hybrid before both routes are timed (the crossing measured on the lent H100 host). */
    static final int PRIOR_HYBRID_ROWS = Math.min(5, MAX_ROWS);

    /** Steps of a route counted before its mean is trusted (after the first, which is not counted). */
    static final int SETTLE = 1;

    /** Steps on the faster route after which the slower gets one more step. */
    static final int RECHECK = 64;

    /** Steps a row count may take before it has settled times on both routes: what a benchmark should warm up by. */
    static final int EXPLORATION_STEPS = 2 * (SETTLE + 1);

    private static final int HYBRID = 0;
    private static final int STREAMED = 1;

    private final long[][] steps = new long[2][MAX_ROWS + 1];
    private final double[][] meanNanos = new double[2][MAX_ROWS + 1];
    private final int[] sinceRecheck = new int[MAX_ROWS + 1];

    /** Whether a step of {@code rows} rows of one sequence should run its CPU blocks on the CPU. */
    boolean hybrid(int rows) {
        if (rows <= 1) {
            return true;
        }
        if (rows > MAX_ROWS) {
            return false;
        }
        int prior = rows <= PRIOR_HYBRID_ROWS ? HYBRID : STREAMED;
        if (!settled(prior, rows)) {
            return prior == HYBRID;
        }
        int other = 1 - prior;
        if (!settled(other, rows)) {
            return other == HYBRID;
        }
        int faster = meanNanos[HYBRID][rows] <= meanNanos[STREAMED][rows] ? HYBRID : STREAMED;
        int route = sinceRecheck[rows] >= RECHECK ? 1 - faster : faster;
        return route == HYBRID;
    }

    /** Records that a step of {@code rows} rows took {@code nanos} on the route {@code hybrid} names. */
    void took(int rows, boolean hybrid, long nanos) {
        if (rows <= 1 || rows > MAX_ROWS) {
            return;
        }
        int route = hybrid ? HYBRID : STREAMED;
        boolean compared = settled(HYBRID, rows) && settled(STREAMED, rows);
        long n = ++steps[route][rows];
        if (n == 2) {
            meanNanos[route][rows] = nanos;
        } else if (n > 2) {
            meanNanos[route][rows] += (nanos - meanNanos[route][rows]) / 4;
        }
        if (compared) {
            boolean faster = meanNanos[route][rows] <= meanNanos[1 - route][rows];
            sinceRecheck[rows] = faster ? sinceRecheck[rows] + 1 : 0;
        }
    }

    private boolean settled(int route, int rows) {
        return steps[route][rows] >= SETTLE + 1;
    }

    /** Per row count that has run: each route's mean time and the route it takes now. For reports, not the step. */
    String report() {
        StringBuilder b = new StringBuilder();
        for (int rows = 2; rows <= MAX_ROWS; rows++) {
            if (steps[HYBRID][rows] + steps[STREAMED][rows] == 0) {
                continue;
            }
            b.append(String.format(Locale.ROOT, "%s%d rows: hybrid %s, streamed %s → %s", b.isEmpty() ? "" : "; ", rows,
                    time(HYBRID, rows), time(STREAMED, rows), hybrid(rows) ? "hybrid" : "streamed"));
        }
        return b.isEmpty() ? "no step of 2.." + MAX_ROWS + " rows yet" : b.toString();
    }

    private String time(int route, int rows) {
        return settled(route, rows) ? String.format(Locale.ROOT, "%.1f ms", meanNanos[route][rows] / 1e6) : "–";
    }
}

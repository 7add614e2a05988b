package io.offload4j.offload;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.cpu.CpuBlockRunner;
import java.util.Locale;

/**
 * Whether a step of a few rows of one sequence (a speculative verification) runs the plan's CPU blocks on the CPU, as
 * a decode step does (the hybrid route), or streams them to the accelerator with the rest — for more than
 * {@link #PRIOR_HYBRID_ROWS} rows, chosen by the time each route took on this machine.
 *
 * <p>The CPU reads each weight once for all rows, but its multiply-adds grow with them; streaming costs the same for
 * any number of rows. Where the two cross depends on the host's cores and vector units and on the PCIe link. On the
 * lent H100 host (8B F16, 25 % budget, 13 CPU blocks, 16 cores; session 20, with the CPU's 4 × 4 register tiles):
 * 2 / 4 / 8 / 12 / 16 rows cost 145 / 149 / 184 / 236 / 227 ms hybrid against 207–239 ms streamed. So:
 * <ul>
 *   <li>up to {@link #PRIOR_HYBRID_ROWS} rows are always hybrid (a third cheaper there on every run so far; not timing
 *       the streamed route for them spares a short request its exploration steps);</li>
 *   <li>above, a row count streams until the streamed route has a settled time. Streaming costs about the same for any
 *       rows, so that is one time for all row counts;</li>
 *   <li>then a row count runs hybrid until that has a settled time, unless a smaller row count already measured slower
 *       hybrid than streamed (the CPU's cost grows with the rows, so this one would be slower still);</li>
 *   <li>then it takes the faster route, and every {@link #RECHECK} steps gives the slower one step, in case the
 *       machine's load changed.</li>
 * </ul>
 * A first step is not counted (it pays for warm-ups: a capture, a first copy into pinned memory, the JIT); later ones
 * update an exponentially weighted mean, weight ¼ for a new step. One row (a decode step) is always hybrid; more than
 * {@link #MAX_ROWS} always stream (the CPU runner and the accelerator's K/V staging take no more). Not thread-safe: the
 * pass it belongs to runs one step at a time. Nothing here allocates after construction.
 */
final class HybridRoutes {

    /** The most rows the hybrid route takes: what the CPU block runner and the accelerator's K/V staging hold. */
    static final int MAX_ROWS = Math.min(CpuBlockRunner.MAX_ROWS, AcceleratorModel.KV_ROWS_PER_STEP);

    /** Rows a step always takes hybrid (measured a third cheaper than streaming on the lent H100 host). */
    static final int PRIOR_HYBRID_ROWS = Math.min(5, MAX_ROWS);

    /** Steps on the faster route after which the slower gets one more step. */
    static final int RECHECK = 64;

    /** Steps of one row count that may run before its route is chosen by measurement: what a benchmark warms up by. */
    static final int EXPLORATION_STEPS = 4;

    private long streamedSteps;
    private double streamedMean;
    private final long[] hybridSteps = new long[MAX_ROWS + 1];
    private final double[] hybridMean = new double[MAX_ROWS + 1];
    private final int[] sinceRecheck = new int[MAX_ROWS + 1];

    /** Whether a step of {@code rows} rows of one sequence should run its CPU blocks on the CPU. */
    boolean hybrid(int rows) {
        if (rows <= PRIOR_HYBRID_ROWS) {
            return true;
        }
        if (rows > MAX_ROWS || streamedSteps < 2) {
            return false;
        }
        if (hybridSteps[rows] < 2) {
            return !slowerHybridBelow(rows);
        }
        boolean faster = hybridMean[rows] <= streamedMean;
        return sinceRecheck[rows] >= RECHECK ? !faster : faster;
    }

    /** Whether a smaller row count (above the prior) measured slower hybrid than streamed. */
    private boolean slowerHybridBelow(int rows) {
        for (int r = PRIOR_HYBRID_ROWS + 1; r < rows; r++) {
            if (hybridSteps[r] >= 2 && hybridMean[r] > streamedMean) {
                return true;
            }
        }
        return false;
    }

    /** Records that a step of {@code rows} rows took {@code nanos} on the route {@code hybrid} names. */
    void took(int rows, boolean hybrid, long nanos) {
        if (rows <= PRIOR_HYBRID_ROWS || rows > MAX_ROWS) {
            return;
        }
        boolean compared = streamedSteps >= 2 && hybridSteps[rows] >= 2;
        if (hybrid) {
            hybridMean[rows] = update(++hybridSteps[rows], hybridMean[rows], nanos);
        } else {
            streamedMean = update(++streamedSteps, streamedMean, nanos);
        }
        if (compared) {
            boolean tookFaster = hybrid == (hybridMean[rows] <= streamedMean);
            sinceRecheck[rows] = tookFaster ? sinceRecheck[rows] + 1 : 0;
        }
    }

    /** The mean after the {@code n}-th step: the first is not counted, the second starts it, later ones weigh ¼. */
    private static double update(long n, double mean, long nanos) {
        return n < 2 ? mean : n == 2 ? nanos : mean + (nanos - mean) / 4;
    }

    /** The streamed time and, per row count above the prior that has run, the hybrid time and the route it takes now. */
    String report() {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "up to %d rows hybrid; streamed %s",
                PRIOR_HYBRID_ROWS, streamedSteps >= 2 ? ms(streamedMean) : "–"));
        for (int rows = PRIOR_HYBRID_ROWS + 1; rows <= MAX_ROWS; rows++) {
            if (hybridSteps[rows] >= 2) {
                b.append(String.format(Locale.ROOT, "; %d rows: hybrid %s → %s", rows, ms(hybridMean[rows]),
                        hybrid(rows) ? "hybrid" : "streamed"));
            }
        }
        return b.toString();
    }

    private static String ms(double nanos) {
        return String.format(Locale.ROOT, "%.1f ms", nanos / 1e6);
    }
}

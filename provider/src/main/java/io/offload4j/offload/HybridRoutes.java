package io.offload4j.offload;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.cpu.CpuBlockRunner;
import java.util.Locale;

/**
 * Whether a step of a few rows of one sequence (a speculative verification) runs the plan's CPU blocks on the CPU, as
 * a decode step does (the hybrid route), or streams them to the accelerator with the rest, chosen by the time each
 * route took on this machine.
 *
 * <p>The CPU reads each weight once for all rows, but its multiply-adds grow with them; streaming costs the same for
 * any number of rows. Where the two cross depends on the host's cores and vector units, on the weights' format and on
 * the PCIe link. On the lent H100 host (16 cores), 8B F16 at a 25 % budget (13 CPU blocks; session 20, with the CPU's
 * 4 × 4 register tiles): 2 / 4 / 8 / 12 / 16 rows cost 145 / 149 / 184 / 236 / 227 ms hybrid against 207–239 ms
 * streamed; but a 30B-shaped Q4_K_M at 25 % (16 CPU blocks; session 21): 2 / 4 rows 214 / 300 ms hybrid against 241
 * streamed. So:
 * <ul>
 *   <li>a row count starts on its prior route: hybrid up to {@link #PRIOR_HYBRID_ROWS} rows (cheaper in most runs so
 *       far; not timing the streamed route for them spares a short request exploration steps), streamed above;</li>
 *   <li>above the prior, a row count streams until the streamed route has a settled time. Streaming costs about the
 *       same for any rows, so that is one time for all row counts (measured by whichever streams first);</li>
 *   <li>once the streamed time is known, a row count runs hybrid until that has a settled time, unless a smaller row
 *       count already measured slower hybrid than streamed (the CPU's cost grows with the rows, so this one would be
 *       slower still) — for the prior's few rows too, so a slow CPU format stops running them hybrid;</li>
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

    /** Rows a step takes hybrid until both routes are timed (a third cheaper than streaming for the 8B F16 on the H100). */
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
        if (rows <= 1) {
            return true;
        }
        if (rows > MAX_ROWS) {
            return false;
        }
        if (streamedSteps < 2) {
            return rows <= PRIOR_HYBRID_ROWS;
        }
        if (hybridSteps[rows] < 2) {
            return !slowerHybridBelow(rows);
        }
        boolean faster = hybridMean[rows] <= streamedMean;
        return sinceRecheck[rows] >= RECHECK ? !faster : faster;
    }

    /** Whether a smaller row count (of two or more) measured slower hybrid than streamed. */
    private boolean slowerHybridBelow(int rows) {
        for (int r = 2; r < rows; r++) {
            if (hybridSteps[r] >= 2 && hybridMean[r] > streamedMean) {
                return true;
            }
        }
        return false;
    }

    /** Records that a step of {@code rows} rows took {@code nanos} on the route {@code hybrid} names. */
    void took(int rows, boolean hybrid, long nanos) {
        if (rows <= 1 || rows > MAX_ROWS) {
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

    /** The streamed time and, per row count that has run hybrid, the hybrid time and the route it takes now. */
    String report() {
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "up to %d rows hybrid until timed; streamed %s",
                PRIOR_HYBRID_ROWS, streamedSteps >= 2 ? ms(streamedMean) : "–"));
        for (int rows = 2; rows <= MAX_ROWS; rows++) {
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

package io.offload4j.engine.speculative;

/**
 * What a target pass of r rows costs, measured online (one table per engine: the cost is the pass's, not a
 * sequence's), for {@link AdaptiveDraftLength} to weigh a longer verification against the tokens it may yield. Rows
 * 1..{@link #maxRows()}: a pass verifying k drafts has k + 1 rows; row count 1 is a plain decode step.
 *
 * <p>Each row count keeps an exponentially weighted mean of its pass durations ({@link #SMOOTHING}). The first
 * duration of each row count is dropped: it may hold a one-off (a CUDA graph's capture, the first compilation of a
 * kernel for that many rows), and an overestimate would never be corrected, since a row count thought too dear is
 * not chosen again. For the same reason a later duration counts at most as r plain steps (r times row count 1's
 * mean): dearer than that no draft pays anyway, and a JIT still compiling can outlast the first pass. Row counts without a kept duration are estimated optimistically from measured ones: the cheaper
 * of the nearest measured below and above, and flat beyond the last (or before the first) measured. The prior is
 * that a pass costs the same whatever its rows (true of streamed weights), so an untried k is tried when it would
 * pay at that cost, and then measured. The optimism is bounded by {@link AdaptiveDraftLength}, which tries at most
 * twice the rows of the largest pass measured ({@link #largestMeasured}). (With that bound, the linear interpolation
 * between neighbours used until session 19 never tried a row count whose guess fell between a cheap one and a dear
 * one: on the H100's hybrid costs, 5 rows at 152 ms looked like 171 ms between 4 at 152 and 8 at 229, and a = 0.7
 * stayed at k = 3, 12 % below k = 4 in {@code AdaptiveDraftLengthTest}'s simulation.)
 *
 * <p>Arrays only: {@link #record} and the estimates allocate nothing (the engine's per-token loop calls them).
 * Confined to the engine's thread.
 */
public final class PassCosts {

    /** Weight of a new duration in its row count's mean. */
    static final double SMOOTHING = 0.25;

    private final int maxRows;
    private final double[] mean;      // [rows]: the smoothed duration in nanoseconds, where kept > 0
    private final int[] seen;         // [rows]: durations recorded (the first is dropped)
    private final double[] estimate;  // [rows]: measured or interpolated; index 0 unused
    private int largestMeasured;
    private boolean fixed;

    /** @param maxRows the most rows a pass may have (the longest verification: max drafts + 1), at least 1 */
    public PassCosts(int maxRows) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("a pass has at least 1 row; max rows was " + maxRows);
        }
        this.maxRows = maxRows;
        this.mean = new double[maxRows + 1];
        this.seen = new int[maxRows + 1];
        this.estimate = new double[maxRows + 1];
        interpolate();
    }

    public int maxRows() {
        return maxRows;
    }

    /** A pass of {@code rows} rows took {@code nanos}. Rows outside 1..maxRows and non-positive times are ignored. */
    public void record(int rows, long nanos) {
        if (rows < 1 || rows > maxRows || nanos <= 0 || fixed) {
            return;
        }
        int n = ++seen[rows];
        if (n == 1) {
            return; // warm-up: see the class comment
        }
        if (rows > 1 && seen[1] >= 2) {
            // A pass of r rows is never dearer than r plain steps (it could run them one after another), and at that
            // cost no draft pays; a longer duration is a one-off that outlasted the dropped first one (the JIT still
            // compiling the multi-row code: 2-row passes of 27.5 ms against 1.4 ms plain on a tiny model here), and
            // kept whole it would make this row count, and the untried ones estimated from it, too dear to be tried
            nanos = (long) Math.min(nanos, rows * mean[1]);
        }
        mean[rows] = n == 2 ? nanos : mean[rows] + SMOOTHING * (nanos - mean[rows]);
        largestMeasured = Math.max(largestMeasured, rows);
        interpolate();
    }

    /**
     * From now on every pass counts as measured at the same cost, and durations are ignored: the choice of k then
     * depends on the acceptance alone, never on timings. For tests of the drafting mechanism (which need drafts
     * whatever the machine's timings); on the engine's thread, or before it decodes anything.
     */
    public void fixFlat() {
        fixed = true;
        for (int r = 1; r <= maxRows; r++) {
            seen[r] = 2;
            mean[r] = 1;
        }
        largestMeasured = maxRows;
        interpolate();
    }

    /** The most rows of a pass with a kept duration (0: none yet). */
    public int largestMeasured() {
        return largestMeasured;
    }

    /** Whether a pass of {@code rows} rows has a kept duration (rather than an estimate from its neighbours). */
    public boolean measured(int rows) {
        return seen[rows] >= 2;
    }

    /** The estimated cost of a pass of {@code rows} rows (nanoseconds once anything is measured; 1 for all before). */
    public double cost(int rows) {
        return estimate[rows];
    }

    /** The estimates, indexed by rows (index 0 unused); the live array, read-only for the caller. */
    double[] estimates() {
        return estimate;
    }

    private void interpolate() {
        int below = 0; // the nearest measured row count below r, 0: none
        int above = 0; // the nearest measured row count above r, maxRows + 1: none (only moves up: linear time)
        for (int r = 1; r <= maxRows; r++) {
            if (seen[r] >= 2) {
                estimate[r] = mean[r];
                below = r;
                continue;
            }
            if (above <= r) {
                above = r + 1;
                while (above <= maxRows && seen[above] < 2) {
                    above++;
                }
            }
            if (above > maxRows) {
                estimate[r] = below == 0 ? 1 : mean[below];
            } else if (below == 0) {
                estimate[r] = mean[above];
            } else {
                estimate[r] = Math.min(mean[below], mean[above]);
            }
        }
    }
}

package io.offload4j.engine.speculative;

/**
 * How many tokens a sequence drafts next: the k that gives the most tokens per unit of time, from the acceptance the
 * sequence has had so far and what passes of each size cost on this engine ({@link PassCosts}, measured).
 *
 * <p><b>The model.</b> Acceptance is the chance {@code a} that a draft token is accepted given the ones before it
 * were (estimated as accepted tokens over tokens that were checked, older verifications' weight decaying by
 * {@link #DECAY} each, from a prior of half a token accepted of one checked). A pass verifying k drafts then yields
 * E(k) = 1 + a + … + a^k = (1 − a^(k+1)) / (1 − a) tokens (k + 1 at a = 1: the accepted drafts and the token after
 * them), and costs cost(k + 1 rows); k = 0 is a plain decode step (1 token for cost(1)). {@link #next} picks the k in
 * 0..max with the largest E(k) / cost(k + 1) ({@link #best}, exact; the smaller k on a tie), drafting only where a
 * draft is expected to yield at least {@link #MIN_EXPECTED_GAIN} extra tokens (measured costs are noisy).
 *
 * <p><b>Why cost-aware.</b> When every pass costs the same (weights streamed over PCIe), the rule drafts long: more
 * drafts never cost more. But a pass's cost can depend strongly on its rows: measured on the lent H100 (8B F16, 25 %
 * GPU budget, 17 blocks on the CPU) one row costs 102.5 ms, 2–5 rows 152 ms (the CPU blocks run for all rows at
 * once), more rows ≈ 229 ms (the CPU blocks streamed). There a = 0.7 is best served by k = 4 (2.77 tokens per 152 ms),
 * not by the k = 8 that a threshold on a^k chose (3.2 per 229 ms), and any a below about 1/3 by not drafting (a 5-row
 * pass costs 1.48 decode steps, and yields fewer tokens than that below a = 0.33): the old threshold drafted until
 * a < 0.05, paying 1.48 steps for 1 token meanwhile.
 *
 * <p><b>Probes.</b> When k = 0 wins, the sequence decodes as without a drafter, but drafts now and then (the best
 * k ≥ 1) so that it notices drafts becoming good (a quote starting) or that its estimate was unluckily low: every
 * {@code ceil(extra / PROBE_BUDGET)} plain steps, where extra = cost(k + 1) / cost(1) − E(k) is what the probe is
 * expected to cost beyond decoding its tokens plainly, in decode steps. So probes cost about {@link #PROBE_BUDGET}
 * of the decode time (at a = 0 on the H100: a 2-row probe every 49 steps), and come often where drafting is nearly
 * break-even (there they cost almost nothing, and a wrong k = 0 costs most); bounded to {@link #PROBE_MIN}..
 * {@link #PROBE_MAX} steps. An accepted probe is followed by another at once, so a run of good drafts lifts the
 * estimate within a few steps.
 *
 * <p><b>Among other sequences.</b> In a step shared with other sequences (their rows in the same model pass,
 * {@link #next(PassCosts, int, double, int)}) the rule weighs the whole step: the k with the most (T + E(k)) /
 * cost(R + k + 1), where the others' R rows are expected to yield T tokens and cost is that of steps of several
 * sequences. Rows that cost little beside the others' (a memory-bound step) are drafted; the others' tokens dilute
 * what a costly draft could gain, so a large batch drafts only where drafts are cheap or good.
 *
 * <p>Until a plain decode step has been measured on this engine the sequence does not draft: nothing could be
 * compared. Allocation-free; confined to the engine's thread.
 */
public final class AdaptiveDraftLength {

    /**
     * Weight of the previous estimate at each verification: about the last ten count. With 0.8 (five) the noise of
     * a = 0.5 dropped the estimate below the H100's break-even (1/3) often enough to lose 13 % against k = 4 fixed
     * in {@code AdaptiveDraftLengthTest}'s simulation; slower decays follow a change of text (a quote ending) late.
     */
    static final double DECAY = 0.9;
    /** The prior: half a token accepted of one checked (a = 1/2, outweighed by the first verification). */
    static final double PRIOR_ACCEPTED = 0.5;
    static final double PRIOR_CHECKED = 1;
    /** The most of the decode time that rejected probes may cost. */
    static final double PROBE_BUDGET = 0.01;
    /**
     * How far past the largest step measured so far a draft may take a step: at most this many times its rows. Past
     * the measured rows the cost table guesses flat (PassCosts), which is right for streamed weights and far too cheap
     * on a CPU (a 36-row step there cost 25× a 4-row one); without a bound, sequences sharing a step each drafted the
     * most on that guess, and a whole run without accepted drafts lost 22 % (4 requests, 410M-shaped Q8_0, 2 vCPUs).
     * Doubling reaches 16 rows from a plain step in four measured sizes.
     */
    static final int EXPLORE_GROWTH = 2;
    /**
     * The fewest extra tokens a draft must be expected to yield (E(k) − 1) to be chosen over a plain step; probes are
     * exempt. Measured costs are noisy: on the lent H100 (8B F16, 25 % budget, session 21) passes of 1, 2 and 4 rows
     * measured 158, 156 and 158 ms, so at a = 0 the estimate's slow decay from the prior (0.05 after six failed
     * verifications) kept E(k) just above 1 for a pass "no dearer" than a plain step, and the engine drafted on 50 of
     * 63 steps, 6 % slower than without drafts: a pass of 3–5 rows really costs 5–30 % more there. Below a tenth of a
     * token nothing worth having is lost: even a free pass would gain under 10 %.
     */
    static final double MIN_EXPECTED_GAIN = 0.1;
    /** The fewest and the most plain steps between two probes. */
    static final int PROBE_MIN = 8;
    static final int PROBE_MAX = 256;

    private final int max;
    private final PassCosts costs;
    private double accepted = PRIOR_ACCEPTED;
    private double checked = PRIOR_CHECKED;
    private int idle;
    private boolean probing;

    /**
     * @param max   the most tokens a step may draft (at least 1)
     * @param costs this engine's pass costs, of at least {@code max + 1} rows
     */
    public AdaptiveDraftLength(int max, PassCosts costs) {
        if (max < 1) {
            throw new IllegalArgumentException("max draft tokens must be at least 1, was " + max);
        }
        if (costs.maxRows() < max + 1) {
            throw new IllegalArgumentException("a draft of " + max + " tokens is verified by a pass of " + (max + 1)
                    + " rows, but the pass cost table goes to " + costs.maxRows() + " rows");
        }
        this.max = max;
        this.costs = costs;
    }

    /**
     * Tokens to draft for the next step when this sequence decodes alone, at most {@code limit} (0: decode one token
     * without drafting): the costs are the constructor's table, of steps of one sequence.
     */
    public int next(int limit) {
        return costs.measured(1) ? next(costs, 0, 0, limit) : 0;
    }

    /** {@link #next(int)} up to the most drafts this sequence may take. */
    public int next() {
        return next(max);
    }

    /**
     * Tokens to draft for the next step, at most {@code limit}, when the step also holds {@code otherRows} rows of other
     * sequences expected to yield {@code otherTokens} tokens, and a step of r rows costs {@code stepCosts.cost(r)}: the
     * k with the most expected tokens of the whole step per unit of its time, (otherTokens + E(k)) / cost(otherRows +
     * k + 1). With nothing else in the step (0, 0) that is E(k) / cost(k + 1), the class comment's rule.
     */
    public int next(PassCosts stepCosts, int otherRows, double otherTokens, int limit) {
        probing = false;
        // at most twice the rows of the largest step measured (EXPLORE_GROWTH): beyond it the cost is a flat guess
        int rows = Math.min(stepCosts.maxRows(), EXPLORE_GROWTH * stepCosts.largestMeasured());
        int most = Math.min(Math.min(max, limit), rows - otherRows - 1);
        if (most <= 0) {
            return 0;
        }
        double[] cost = stepCosts.estimates();
        double a = acceptance();
        int k = bestFrom(0, a, cost, most, otherRows, otherTokens);
        if (k > 0) {
            idle = 0;
            return k;
        }
        int probe = bestFrom(1, a, cost, most, otherRows, otherTokens);
        // what the probe is expected to cost beyond decoding the step's tokens plainly, in plain steps
        double plain = cost[otherRows + 1];
        double extra = Math.max(0, cost[otherRows + probe + 1] / plain
                - (otherTokens + expected(a, probe)) / (otherTokens + 1));
        if (++idle >= (int) Math.clamp(Math.ceil(extra / PROBE_BUDGET), PROBE_MIN, PROBE_MAX)) {
            idle = 0;
            probing = true;
            return probe;
        }
        return 0;
    }

    /**
     * The k in 0..max with the largest E(k) / cost[k + 1], E(k) = 1 + a + … + a^k: the most tokens per unit of time
     * for a draft acceptance {@code a} and pass costs {@code cost} (indexed by rows, 1..max + 1), among the k = 0 and
     * those expected to yield at least {@link #MIN_EXPECTED_GAIN} extra tokens. On a tie the smaller k (fewer rows,
     * and no drafting at a = 0).
     */
    public static int best(double a, double[] cost, int max) {
        return bestFrom(0, a, cost, max, 0, 0);
    }

    /**
     * The k in least..max with the most (otherTokens + E(k)) / cost[otherRows + k + 1]; the smaller k on a tie. With
     * least = 0 a draft must be expected to yield {@link #MIN_EXPECTED_GAIN} extra tokens; a probe (least = 1) need not.
     */
    private static int bestFrom(int least, double a, double[] cost, int max, int otherRows, double otherTokens) {
        double p = Math.clamp(a, 0, 1);
        int bestK = -1;
        double bestRate = 0;
        double power = 1;
        double expected = 1;
        for (int k = 0; k <= max; k++) {
            if (k > 0) {
                power *= p;
                expected += power;
            }
            double rate = (otherTokens + expected) / cost[otherRows + k + 1];
            boolean worthDrafting = k == 0 || least > 0 || expected >= 1 + MIN_EXPECTED_GAIN;
            if (k >= least && worthDrafting && (bestK < 0 || rate > bestRate * (1 + 1e-12))) {
                bestRate = rate;
                bestK = k;
            }
        }
        return bestK;
    }

    /** E(k) at this sequence's acceptance so far: the tokens a step verifying k of its drafts is expected to yield. */
    public double expectedTokens(int k) {
        return expected(acceptance(), k);
    }

    /** E(k): the tokens a pass verifying k drafts yields at acceptance a. */
    static double expected(double a, int k) {
        double p = Math.clamp(a, 0, 1);
        return p >= 1 ? k + 1 : (1 - Math.pow(p, k + 1)) / (1 - p);
    }

    /** A verification step: {@code drafted} tokens proposed (at least 1), the first {@code accepted} of them taken. */
    public void record(int drafted, int accepted) {
        if (drafted < 1 || accepted < 0 || accepted > drafted) {
            throw new IllegalArgumentException("accepted " + accepted + " of " + drafted + " drafted tokens");
        }
        int checkedNow = accepted + (accepted < drafted ? 1 : 0); // the first rejected token was checked too
        this.accepted = this.accepted * DECAY + accepted;
        this.checked = this.checked * DECAY + checkedNow;
        if (probing && accepted == drafted) {
            idle = PROBE_MAX; // an accepted probe: probe again at the next step unless drafting pays by then
        }
        probing = false;
    }

    /** The estimated chance that a draft token is accepted when the ones before it were. */
    public double acceptance() {
        return accepted / checked;
    }
}

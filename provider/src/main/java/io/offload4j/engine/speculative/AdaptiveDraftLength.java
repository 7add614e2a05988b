package io.offload4j.engine.speculative;

/**
 * How many tokens a sequence drafts next, from the acceptance it has had so far. Acceptance is modelled as the chance
 * {@code a} that a draft token is accepted given the ones before it were (the estimate: accepted tokens over tokens
 * that were checked, with older steps' weight decaying by {@link #DECAY} per step, starting from 1 in 2). The k-th
 * draft token is accepted with probability {@code a^k}, so k grows while that is at least {@link #REACH}: at
 * a = 0.7 eight tokens (expected 3.2 tokens per target pass), at 0.5 four, at 0.1 one. When even one token is unlikely
 * to be accepted ({@code a < REACH}) the sequence stops drafting and decodes one token per pass, as without a drafter,
 * drafting one token every {@link #PROBE_EVERY} steps to notice when drafts become good again (a quote starting).
 *
 * <p>Why a threshold, not a cost model: on streamed weights a pass verifying 16 tokens costs about what a one-token
 * step costs, so drafts are nearly free until their acceptance is tiny; {@link #REACH} is the bar for that case.
 */
public final class AdaptiveDraftLength {

    /** Weight of the previous estimate at each step. */
    static final double DECAY = 0.8;
    /** The least probability with which the last draft token of a step should be reached. */
    static final double REACH = 0.05;
    /** Steps without drafting between two one-token probes. */
    static final int PROBE_EVERY = 16;

    private final int max;
    private double accepted = 1;
    private double checked = 2;
    private int idle;

    /** @param max the most tokens a step may draft (at least 1) */
    public AdaptiveDraftLength(int max) {
        if (max < 1) {
            throw new IllegalArgumentException("max draft tokens must be at least 1, was " + max);
        }
        this.max = max;
    }

    /** Tokens to draft for the next step (0: decode one token without drafting). */
    public int next() {
        double a = acceptance();
        int k;
        if (a >= 1) {
            k = max;
        } else if (a < REACH) {
            k = 0;
        } else {
            k = (int) Math.min(max, Math.floor(Math.log(REACH) / Math.log(a) + 1e-9));
        }
        if (k > 0) {
            idle = 0;
            return k;
        }
        if (++idle >= PROBE_EVERY) {
            idle = 0;
            return 1;
        }
        return 0;
    }

    /** A verification step: {@code drafted} tokens proposed (at least 1), the first {@code accepted} of them taken. */
    public void record(int drafted, int accepted) {
        if (drafted < 1 || accepted < 0 || accepted > drafted) {
            throw new IllegalArgumentException("accepted " + accepted + " of " + drafted + " drafted tokens");
        }
        int checkedNow = accepted + (accepted < drafted ? 1 : 0); // the first rejected token was checked too
        this.accepted = this.accepted * DECAY + accepted;
        this.checked = this.checked * DECAY + checkedNow;
    }

    /** The estimated chance that a draft token is accepted when the ones before it were. */
    public double acceptance() {
        return accepted / checked;
    }
}

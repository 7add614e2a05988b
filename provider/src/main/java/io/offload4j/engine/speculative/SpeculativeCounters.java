package io.offload4j.engine.speculative;

import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * What speculative decoding has done so far, counted on the engine's thread and read by any: tokens drafted and
 * accepted, verification passes, and every target pass a decoding sequence took (a verification, or its row of a
 * batched decode step), with the tokens those produced. Read through {@code EngineStats}; the passes by draft length
 * (how many, and their time) through {@link #passes} and {@link #passNanos}, to judge the choice of k.
 */
public final class SpeculativeCounters {

    private final AtomicLong drafted = new AtomicLong();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong verifications = new AtomicLong();
    private final AtomicLong targetPasses = new AtomicLong();
    private final AtomicLongArray passes = new AtomicLongArray(SpeculativeOptions.MAX_DRAFT_TOKENS + 1);
    private final AtomicLongArray passNanos = new AtomicLongArray(SpeculativeOptions.MAX_DRAFT_TOKENS + 1);

    /**
     * One verification in a step of {@code nanos}: {@code drafted} tokens checked, the first {@code accepted} of them
     * taken.
     */
    public void verified(int drafted, int accepted, long nanos) {
        passes.incrementAndGet(drafted);
        passNanos.addAndGet(drafted, nanos);
        this.drafted.addAndGet(drafted);
        this.accepted.addAndGet(accepted);
        verifications.incrementAndGet();
        targetPasses.incrementAndGet(); // last: a reader that sees it sees the pass's other counts
    }

    /** {@code n} sequences decoded one token each (plain rows) in a step of {@code nanos}. */
    public void decoded(int n, long nanos) {
        passes.addAndGet(0, n);
        passNanos.addAndGet(0, nanos);
        targetPasses.addAndGet(n); // last: a reader that sees it sees the step's other counts
    }

    /**
     * Passes of decoding sequences that checked {@code drafted} drafts
     * (0..{@link SpeculativeOptions#MAX_DRAFT_TOKENS}): for 0, the sequences' plain decode steps (a batched step
     * counts once per sequence).
     */
    public long passes(int drafted) {
        return passes.get(drafted);
    }

    /**
     * The time of the steps that the passes {@link #passes} counts took part in, in total: each verification adds its
     * whole step's time, and a step with plain decode rows adds its time once under 0. A step shared by several
     * sequences (drafts verified beside others' decode rows) is therefore counted under each k it held; with one
     * sequence running each pass is its own step.
     */
    public long passNanos(int drafted) {
        return passNanos.get(drafted);
    }

    /** Target passes of decoding sequences: verifications, and rows of plain decode steps. */
    public long targetPasses() {
        return targetPasses.get();
    }

    public long draftedTokens() {
        return drafted.get();
    }

    public long acceptedTokens() {
        return accepted.get();
    }

    public long verifications() {
        return verifications.get();
    }
}

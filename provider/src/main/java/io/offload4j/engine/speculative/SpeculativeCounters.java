package io.offload4j.engine.speculative;

import java.util.concurrent.atomic.AtomicLong;

/**
 * What speculative decoding has done so far, counted on the engine's thread and read by any: tokens drafted and
 * accepted, verification passes, and every target pass a decoding sequence took (a verification, or its row of a
 * batched decode step), with the tokens those produced. Read through {@code EngineStats}.
 */
public final class SpeculativeCounters {

    private final AtomicLong drafted = new AtomicLong();
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong verifications = new AtomicLong();
    private final AtomicLong targetPasses = new AtomicLong();

    /** One verification pass: {@code drafted} tokens checked, the first {@code accepted} of them taken. */
    public void verified(int drafted, int accepted) {
        this.drafted.addAndGet(drafted);
        this.accepted.addAndGet(accepted);
        verifications.incrementAndGet();
        targetPasses.incrementAndGet();
    }

    /** {@code n} sequences decoded one token each (the rows of a batched step, or lone decode steps). */
    public void decoded(int n) {
        targetPasses.addAndGet(n);
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

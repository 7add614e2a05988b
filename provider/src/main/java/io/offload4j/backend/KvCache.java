package io.offload4j.backend;

/** The keys and values of one sequence, per block and position, on the device that computes it. */
public interface KvCache extends AutoCloseable {

    /** Positions it can hold. */
    int capacity();

    /**
     * How many of the last positions written may be written again (a reused prefix continued with other tokens, a
     * rejected speculative draft) without losing rows the positions before them still attend to. Unlimited unless
     * sliding-window blocks keep only a ring of their last rows: then a prefix of n positions of a cache that holds
     * L is reusable only when L - n is at most this.
     */
    default int maxRewind() {
        return Integer.MAX_VALUE;
    }

    /**
     * Whether {@link #copyPrefix} can copy from {@code source}: a cache of the same pass (and device), laid out like
     * this one. False by default: a device that cannot copy caches computes the prefix instead.
     */
    default boolean canCopyPrefix(KvCache source) {
        return false;
    }

    /**
     * Makes positions {@code 0..positions-1} hold what they hold in {@code source}: a prompt prefix another sequence
     * computed (the same tokens at the same positions have the same keys and values), copied instead of computed
     * again. {@code source} must hold those positions (in a sliding-window ring, with at most {@link #maxRewind()}
     * positions written after them, drafts included). What this cache held at and after {@code positions} is lost:
     * the next step writes those rows before anything attends to them. Only where {@link #canCopyPrefix} says so;
     * ordered before the next forward call of either sequence.
     *
     * @throws IllegalArgumentException where {@link #canCopyPrefix} is false or {@code positions} exceeds either
     *                                  capacity (nothing is copied)
     */
    default void copyPrefix(KvCache source, int positions) {
        requireCopyable(this, source, positions);
    }

    /**
     * What {@link #copyPrefix} checks before it copies anything: that {@code target} {@link #canCopyPrefix can copy}
     * from {@code source}, and {@code positions} against both capacities.
     */
    static void requireCopyable(KvCache target, KvCache source, int positions) {
        if (!target.canCopyPrefix(source)) {
            throw new IllegalArgumentException("this KV cache (" + target.getClass().getSimpleName() + ") cannot copy"
                    + " from " + source.getClass().getSimpleName() + ": only from a cache of the same pass");
        }
        if (positions < 0 || positions > target.capacity() || positions > source.capacity()) {
            throw new IllegalArgumentException("cannot copy a prefix of " + positions + " positions from a KV cache of "
                    + source.capacity() + " into one of " + target.capacity());
        }
    }

    /** Device or host bytes it occupies, or may come to occupy (all its capacity's). */
    long byteSize();

    /**
     * Bytes it holds now: {@link #byteSize()}, except in a cache that takes its memory as its sequence grows (the CPU's
     * pages), which holds only the positions it has reached, some of them shared with caches that copied a prefix
     * from it or it from them (counted in each).
     */
    default long heldBytes() {
        return byteSize();
    }

    /**
     * The bytes it holds once it holds positions {@code 0..positions-1}: {@link #byteSize()}, except in a cache that
     * takes its memory as its sequence grows (the CPU's pages: its rings, and the pages of those positions).
     */
    default long bytesHolding(int positions) {
        return byteSize();
    }

    @Override
    void close();
}

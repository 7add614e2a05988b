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

    /** Device or host bytes it occupies. */
    long byteSize();

    @Override
    void close();
}

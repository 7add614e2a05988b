package io.offload4j.backend;

/**
 * How often each expert of each block was chosen, and an optional bounded trace of every choice in order: a
 * {@link MoeRoutingListener} cheap enough to leave on (one increment per choice, no allocation, no lock — read the
 * counts from the forward pass's thread or after it has finished).
 */
public final class MoeRoutingCounts implements MoeRoutingListener {

    private final long[][] counts;
    private final int[] trace;
    private int traced;
    private long dropped;

    /**
     * @param blocks     blocks of the model
     * @param experts    experts per block
     * @param traceLimit choices to keep in order (block, expert as {@code block * experts + expert}); 0 = counts only
     */
    public MoeRoutingCounts(int blocks, int experts, int traceLimit) {
        this.counts = new long[blocks][experts];
        this.trace = new int[traceLimit];
    }

    @Override
    public void routed(int block, int rows, int k, int[] experts) {
        long[] c = counts[block];
        int n = rows * k;
        int experts0 = c.length;
        for (int i = 0; i < n; i++) {
            int e = experts[i];
            c[e]++;
            if (traced < trace.length) {
                trace[traced++] = block * experts0 + e;
            } else {
                dropped++;
            }
        }
    }

    /** Times expert {@code e} of block {@code block} was chosen. */
    public long count(int block, int e) {
        return counts[block][e];
    }

    /** Choices of block {@code block}, per expert (a copy). */
    public long[] counts(int block) {
        return counts[block].clone();
    }

    /** The choices recorded in order, as {@code block * experts + expert} (a copy). */
    public int[] trace() {
        return java.util.Arrays.copyOf(trace, traced);
    }

    /** Choices that came after the trace was full (counted, not traced). */
    public long dropped() {
        return dropped;
    }
}

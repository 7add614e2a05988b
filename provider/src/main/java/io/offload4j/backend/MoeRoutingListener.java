package io.offload4j.backend;

/**
 * Told which experts each row of a step chose in a sparse (mixture-of-experts) block: the routing trace an expert
 * cache learns from and that the offline (Belady) analysis replays. Called on the forward pass's thread once per
 * sparse block per step, inside the per-token loop: an implementation must be quick, must not allocate and must
 * copy what it keeps (the array is the pass's own and is overwritten by the next block).
 */
@FunctionalInterface
public interface MoeRoutingListener {

    /**
     * @param block   the block's index
     * @param rows    rows of the step (tokens of a chunk, or sequences of a batch)
     * @param k       experts per row
     * @param experts {@code experts[r * k + j]}: row r's j-th choice, by decreasing router weight
     */
    void routed(int block, int rows, int k, int[] experts);

    /** Listens to nothing. */
    MoeRoutingListener NONE = (block, rows, k, experts) -> {};
}

package io.offload4j.model;

/**
 * The weights of one transformer block. Norm weights and biases are small and decoded to floats
 * at load; the projections stay in the file's format. Optional tensors are {@code null} when the
 * architecture has none.
 */
public record BlockWeights(
        int index,
        float[] attentionNorm,
        Weight wq,
        Weight wk,
        Weight wv,
        Weight wo,
        float[] qBias,
        float[] kBias,
        float[] vBias,
        float[] qNorm,
        float[] kNorm,
        float[] ffnNorm,
        Weight wGate,
        Weight wUp,
        Weight wDown) {

    /** Bytes of the block's projection matrices (what a forward pass streams through). */
    public long matrixBytes() {
        return wq.byteSize() + wk.byteSize() + wv.byteSize() + wo.byteSize()
                + wGate.byteSize() + wUp.byteSize() + wDown.byteSize();
    }
}

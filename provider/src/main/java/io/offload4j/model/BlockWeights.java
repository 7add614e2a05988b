package io.offload4j.model;

/**
 * The weights of one transformer block. Norm weights and biases are small and decoded to floats
 * at load; the projections stay in the file's format. Optional tensors are {@code null} when the
 * architecture has none.
 *
 * @param attentionPostNorm RMSNorm weight applied to the attention output before the residual add (Gemma), or null
 * @param ffnPostNorm       RMSNorm weight applied to the FFN output before the residual add (Gemma), or null
 * @param geluFeedForward   whether the FFN is GeGLU with the tanh GELU (Gemma) rather than SwiGLU
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
        Weight wDown,
        float[] attentionPostNorm,
        float[] ffnPostNorm,
        boolean geluFeedForward) {

    /** A pre-norm SwiGLU block without post-norms (llama, qwen2, qwen3). */
    public BlockWeights(int index, float[] attentionNorm, Weight wq, Weight wk, Weight wv, Weight wo, float[] qBias,
                        float[] kBias, float[] vBias, float[] qNorm, float[] kNorm, float[] ffnNorm, Weight wGate,
                        Weight wUp, Weight wDown) {
        this(index, attentionNorm, wq, wk, wv, wo, qBias, kBias, vBias, qNorm, kNorm, ffnNorm, wGate, wUp, wDown, null,
                null, false);
    }

    /**
     * The block's seven projection matrices in the order every device lays out and streams them:
     * Q, K, V, attention output, gate, up, down. A new array per call (preparation, not the per-step path).
     */
    public Weight[] matrices() {
        return new Weight[] {wq, wk, wv, wo, wGate, wUp, wDown};
    }

    /** Bytes of the block's projection matrices (what a forward pass streams through). */
    public long matrixBytes() {
        return wq.byteSize() + wk.byteSize() + wv.byteSize() + wo.byteSize()
                + wGate.byteSize() + wUp.byteSize() + wDown.byteSize();
    }
}

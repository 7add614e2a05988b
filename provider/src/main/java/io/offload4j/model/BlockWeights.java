package io.offload4j.model;

/**
 * The weights of one transformer block. Norm weights and biases are small and decoded to floats
 * at load; the projections stay in the file's format. Optional tensors are {@code null} when the
 * architecture has none. A mixture-of-experts block has {@code moe} and no dense FFN ({@code wGate},
 * {@code wUp}, {@code wDown} null); a dense block has no {@code moe}.
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
        MoeWeights moe) {

    /** A dense block. */
    public BlockWeights(int index, float[] attentionNorm, Weight wq, Weight wk, Weight wv, Weight wo, float[] qBias,
                        float[] kBias, float[] vBias, float[] qNorm, float[] kNorm, float[] ffnNorm, Weight wGate,
                        Weight wUp, Weight wDown) {
        this(index, attentionNorm, wq, wk, wv, wo, qBias, kBias, vBias, qNorm, kNorm, ffnNorm, wGate, wUp, wDown, null);
    }

    /** Whether the block's FFN is a mixture of experts. */
    public boolean isSparse() {
        return moe != null;
    }

    /**
     * The block's projection matrices in the order every device lays out and streams them: Q, K, V, attention
     * output, gate, up, down — for a sparse block Q, K, V, attention output, then {@link MoeWeights#matrices()}
     * (router, shared expert, each expert's gate, up, down). A new array per call (preparation, not the per-step path).
     */
    public Weight[] matrices() {
        if (moe == null) {
            return new Weight[] {wq, wk, wv, wo, wGate, wUp, wDown};
        }
        Weight[] experts = moe.matrices();
        Weight[] all = new Weight[4 + experts.length];
        all[0] = wq;
        all[1] = wk;
        all[2] = wv;
        all[3] = wo;
        System.arraycopy(experts, 0, all, 4, experts.length);
        return all;
    }

    /** Bytes of the block's projection matrices (what a forward pass streams through; a sparse block: every expert). */
    public long matrixBytes() {
        long attention = wq.byteSize() + wk.byteSize() + wv.byteSize() + wo.byteSize();
        return attention + (moe != null ? moe.matrixBytes() : wGate.byteSize() + wUp.byteSize() + wDown.byteSize());
    }
}

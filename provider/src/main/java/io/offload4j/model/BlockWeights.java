package io.offload4j.model;

/**
 * The weights of one transformer block. Norm weights and biases are small and decoded to floats
 * at load; the projections stay in the file's format. Optional tensors are {@code null} when the
 * architecture has none. A mixture-of-experts block has {@code moe} and no dense FFN ({@code wGate},
 * {@code wUp}, {@code wDown} null); a dense block has no {@code moe}.
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
        MoeWeights moe,
        float[] attentionPostNorm,
        float[] ffnPostNorm,
        boolean geluFeedForward) {

    /** A pre-norm SwiGLU dense block without post-norms (llama, qwen2, qwen3, phi3). */
    public BlockWeights(int index, float[] attentionNorm, Weight wq, Weight wk, Weight wv, Weight wo, float[] qBias,
                        float[] kBias, float[] vBias, float[] qNorm, float[] kNorm, float[] ffnNorm, Weight wGate,
                        Weight wUp, Weight wDown) {
        this(index, attentionNorm, wq, wk, wv, wo, qBias, kBias, vBias, qNorm, kNorm, ffnNorm, wGate, wUp, wDown, null,
                null, null, false);
    }

    /** A pre-norm SwiGLU block without post-norms; sparse when {@code moe} is not null. */
    public BlockWeights(int index, float[] attentionNorm, Weight wq, Weight wk, Weight wv, Weight wo, float[] qBias,
                        float[] kBias, float[] vBias, float[] qNorm, float[] kNorm, float[] ffnNorm, Weight wGate,
                        Weight wUp, Weight wDown, MoeWeights moe) {
        this(index, attentionNorm, wq, wk, wv, wo, qBias, kBias, vBias, qNorm, kNorm, ffnNorm, wGate, wUp, wDown, moe,
                null, null, false);
    }

    /** A dense block with Gemma's post-norms (null: none) and its FFN's activation. */
    public BlockWeights(int index, float[] attentionNorm, Weight wq, Weight wk, Weight wv, Weight wo, float[] qBias,
                        float[] kBias, float[] vBias, float[] qNorm, float[] kNorm, float[] ffnNorm, Weight wGate,
                        Weight wUp, Weight wDown, float[] attentionPostNorm, float[] ffnPostNorm,
                        boolean geluFeedForward) {
        this(index, attentionNorm, wq, wk, wv, wo, qBias, kBias, vBias, qNorm, kNorm, ffnNorm, wGate, wUp, wDown, null,
                attentionPostNorm, ffnPostNorm, geluFeedForward);
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

    /**
     * A sparse block's matrices without its routed experts: Q, K, V, attention output, router and the shared expert
     * (the prefix of {@link #matrices()}), the unit placed before the experts when experts are placed one by one.
     */
    public Weight[] attentionMatrices() {
        if (moe == null) {
            throw new IllegalStateException("block " + index + " is dense: it has no routed experts to leave out");
        }
        return java.util.Arrays.copyOf(matrices(), 5 + (moe.hasSharedExpert() ? 3 : 0));
    }

    /** Bytes of the block's projection matrices (what a forward pass streams through; a sparse block: every expert). */
    public long matrixBytes() {
        long attention = wq.byteSize() + wk.byteSize() + wv.byteSize() + wo.byteSize();
        return attention + (moe != null ? moe.matrixBytes() : wGate.byteSize() + wUp.byteSize() + wDown.byteSize());
    }
}

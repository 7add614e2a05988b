package io.offload4j.model;

import java.util.ArrayList;
import java.util.List;

/**
 * The order of operations of one transformer block, written once for every device. The CPU pass and the CUDA model
 * implement these steps (the CUDA model fuses some of them into one kernel: the norms into the projections, RoPE
 * with the bias, the QK norm and the KV write), and the reference transformer of the tests interprets this list
 * step by step, so each device is tested against the same description.
 */
public enum BlockRecipe {
    /** xb = RMSNorm(x) · attention norm weight. */
    ATTENTION_NORM,
    /** q, k, v = xb · Wq, Wk, Wv. */
    QKV_PROJECTIONS,
    /** q, k, v += their biases (qwen2). */
    QKV_BIAS,
    /** Each head of q and k: RMSNorm · its weight (qwen3). */
    QK_NORM,
    /** q, k rotated by position (adjacent pairs for GGUF llama, halves otherwise; the scaled inverse frequencies). */
    ROPE,
    /** k, v stored at the row's position of the row's KV cache, for every row before any attends. */
    KV_WRITE,
    /**
     * Causal grouped-query attention over positions 0..pos of the row's own cache (only the last
     * {@link ModelTraits#slidingWindow()} of them in a sliding block), scores scaled by
     * {@link ModelTraits#attentionScale()} (1/√headDim unless the model says otherwise) and soft-capped when
     * {@link ModelTraits#attentionSoftcap()} is set.
     */
    ATTENTION,
    /** o = attention · Wo; x += o (with a post-attention norm, that norm adds it instead). */
    OUTPUT_PROJECTION,
    /** x += RMSNorm(o) · post-attention norm weight (Gemma). */
    ATTENTION_POST_NORM,
    /** xb = RMSNorm(x) · FFN norm weight. */
    FFN_NORM,
    /** h = SiLU(xb · Wgate) ⊙ (xb · Wup). */
    GATE_UP_SWIGLU,
    /** h = GELU(xb · Wgate) ⊙ (xb · Wup), GELU's tanh approximation (Gemma's gelu_pytorch_tanh). */
    GATE_UP_GEGLU,
    /** f = h · Wdown; x += f (with a post-FFN norm, that norm adds it instead). */
    DOWN_PROJECTION,
    /**
     * Sparse blocks (mixture of experts) instead of the two steps above: router logits = xb · Wrouter, softmax over
     * every expert, the k most probable chosen, their probabilities renormalised to sum 1 where the architecture
     * says so ({@link MoeConfig#normalizeTopK()}) and scaled by {@link MoeConfig#weightsScale()}.
     */
    MOE_ROUTER,
    /** x += Σ over the chosen experts of weight · (SiLU(xb · Wgate_e) ⊙ (xb · Wup_e)) · Wdown_e. */
    MOE_EXPERTS,
    /** x += sigmoid(xb · sharedGateInput) · (SiLU(xb · Wgate_s) ⊙ (xb · Wup_s)) · Wdown_s (qwen2moe). */
    MOE_SHARED_EXPERT,
    /** x += RMSNorm(f) · post-FFN norm weight (Gemma). */
    FFN_POST_NORM;

    /** The steps block {@code b} takes, in order: optional ones only where the block has their weights. */
    public static List<BlockRecipe> of(BlockWeights b) {
        List<BlockRecipe> steps = new ArrayList<>();
        for (BlockRecipe r : values()) {
            if (r == QKV_BIAS && b.qBias() == null || r == QK_NORM && b.qNorm() == null
                    || r == ATTENTION_POST_NORM && b.attentionPostNorm() == null
                    || r == FFN_POST_NORM && b.ffnPostNorm() == null
                    || r == GATE_UP_SWIGLU && b.geluFeedForward() || r == GATE_UP_GEGLU && !b.geluFeedForward()) {
                continue;
            }
            boolean sparse = b.moe() != null;
            if ((r == GATE_UP_SWIGLU || r == DOWN_PROJECTION) && sparse
                    || (r == MOE_ROUTER || r == MOE_EXPERTS) && !sparse
                    || r == MOE_SHARED_EXPERT && !(sparse && b.moe().hasSharedExpert())) {
                continue;
            }
            steps.add(r);
        }
        return List.copyOf(steps);
    }
}

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
    /** Causal grouped-query attention over positions 0..pos of the row's own cache, scaled by 1/√headDim. */
    ATTENTION,
    /** x += attention · Wo. */
    OUTPUT_PROJECTION,
    /** xb = RMSNorm(x) · FFN norm weight. */
    FFN_NORM,
    /** h = SiLU(xb · Wgate) ⊙ (xb · Wup). */
    GATE_UP_SWIGLU,
    /** x += h · Wdown. */
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
    MOE_SHARED_EXPERT;

    /** The steps block {@code b} takes, in order: optional ones only where the block has their weights. */
    public static List<BlockRecipe> of(BlockWeights b) {
        List<BlockRecipe> steps = new ArrayList<>();
        for (BlockRecipe r : values()) {
            if (r == QKV_BIAS && b.qBias() == null || r == QK_NORM && b.qNorm() == null) {
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

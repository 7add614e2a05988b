package io.offload4j.model;

import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import java.nio.file.Path;

/**
 * The mixture-of-experts part of a model's shape: how many experts each sparse block has, how many a token uses,
 * and how the router's weights are formed. Every architecture here routes the same way (llama.cpp's
 * {@code build_moe_ffn} with softmax gating; transformers' Mixtral, Qwen2-MoE and Qwen3-MoE blocks): the router's
 * logits over all experts go through a softmax, the {@code expertUsedCount} largest probabilities pick the experts,
 * and — when {@code normalizeTopK} — those probabilities are divided by their sum; each expert's SwiGLU output is
 * scaled by its weight (times {@code weightsScale}) and the scaled outputs are added. A shared expert (Qwen2-MoE)
 * runs for every token, scaled by the sigmoid of its own one-row gate.
 *
 * @param expertCount             experts per sparse block ({@code <arch>.expert_count})
 * @param expertUsedCount         experts each token uses, k ({@code <arch>.expert_used_count})
 * @param expertFeedForwardLength rows of each expert's gate and up matrices
 * @param sharedFeedForwardLength rows of the shared expert's gate and up matrices, 0 when there is none
 * @param normalizeTopK           whether the k chosen probabilities are renormalised to sum to 1
 * @param weightsScale            a factor on every expert weight (1 for the architectures here)
 */
public record MoeConfig(int expertCount, int expertUsedCount, int expertFeedForwardLength, int sharedFeedForwardLength,
                        boolean normalizeTopK, float weightsScale) {

    public MoeConfig {
        if (expertCount < 1 || expertUsedCount < 1 || expertUsedCount > expertCount) {
            throw new IllegalArgumentException("a mixture of experts needs 1 <= experts used (" + expertUsedCount
                    + ") <= experts (" + expertCount + ")");
        }
    }

    /**
     * The MoE keys of {@code <arch>.*} metadata, or null for a dense model ({@code expert_count} absent or 0).
     * Defaults follow llama.cpp: the expert FFN is {@code expert_feed_forward_length}, else (qwen2moe, qwen3moe)
     * {@code feed_forward_length / expert_used_count}, else (llama: Mixtral) {@code feed_forward_length}; the top-k
     * probabilities are renormalised for llama and qwen3moe and not for qwen2moe unless
     * {@code expert_weights_norm} says otherwise (a Hugging Face config's {@code norm_topk_prob} arrives as that key).
     */
    static MoeConfig fromMetadata(Path file, GgufMetadata md, Architecture arch, int feedForwardLength) {
        String p = arch.ggufName() + ".";
        int experts = md.getInt(p + "expert_count", 0);
        if (experts <= 0) {
            if (arch.isMixtureOfExperts()) {
                throw new ModelFormatException(file, "metadata key '" + p + "expert_count' is "
                        + (md.has(p + "expert_count") ? experts : "missing") + "; a " + arch.ggufName()
                        + " model is a mixture of experts and needs a positive expert count");
            }
            return null;
        }
        int used = md.getInt(p + "expert_used_count", 0);
        if (used < 1 || used > experts) {
            throw new ModelFormatException(file, "metadata key '" + p + "expert_used_count' is "
                    + (md.has(p + "expert_used_count") ? used : "missing") + "; expected 1.." + experts
                    + " (experts per token, at most " + p + "expert_count)");
        }
        int expertFfn = md.has(p + "expert_feed_forward_length") ? md.getInt(p + "expert_feed_forward_length")
                : arch == Architecture.LLAMA ? feedForwardLength : feedForwardLength / used;
        if (expertFfn <= 0) {
            throw new ModelFormatException(file, "metadata key '" + p + "expert_feed_forward_length' is " + expertFfn
                    + "; expected a positive number");
        }
        int shared = 0;
        if (arch == Architecture.QWEN2MOE) {
            shared = md.has(p + "expert_shared_feed_forward_length")
                    ? md.getInt(p + "expert_shared_feed_forward_length") : feedForwardLength;
            if (shared <= 0) {
                throw new ModelFormatException(file, "metadata key '" + p + "expert_shared_feed_forward_length' is "
                        + shared + "; expected a positive number");
            }
        }
        if (md.has(p + "expert_gating_func") && md.getInt(p + "expert_gating_func") != SOFTMAX_GATING) {
            throw new ModelFormatException(file, "metadata key '" + p + "expert_gating_func' is "
                    + md.getInt(p + "expert_gating_func") + "; only softmax gating (1) is supported");
        }
        boolean norm = md.getBoolean(p + "expert_weights_norm", arch != Architecture.QWEN2MOE);
        float scale = md.getFloat(p + "expert_weights_scale", 0f);
        // llama.cpp applies the scale only when it is neither 0 (unset) nor 1.
        return new MoeConfig(experts, used, expertFfn, shared, norm, scale == 0f ? 1f : scale);
    }

    /** llama.cpp's {@code LLAMA_EXPERT_GATING_FUNC_TYPE_SOFTMAX}. */
    static final int SOFTMAX_GATING = 1;
}

package io.offload4j.model;

import java.util.Arrays;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * The transformer variants the engine runs, by their GGUF {@code general.architecture} name.
 * Llama 2/3/3.1/3.2, TinyLlama, SmolLM and Mistral all use {@code llama} in GGUF.
 */
public enum Architecture {
    /** Pre-norm decoder, SwiGLU, RoPE on adjacent pairs (GGUF stores Q/K permuted for that). */
    LLAMA("llama", RopeLayout.ADJACENT_PAIRS, false, false),
    /** As llama plus Q/K/V biases; RoPE rotates the two halves of each head (NEOX). */
    QWEN2("qwen2", RopeLayout.HALVES, true, false),
    /** As qwen2 without biases, plus an RMSNorm of each Q and K head before RoPE. */
    QWEN3("qwen3", RopeLayout.HALVES, false, true),
    /**
     * Phi-3, 3.5 and 4: llama's block with RoPE on halves, Q/K/V in one fused {@code attn_qkv} tensor and gate/up
     * in one {@code ffn_up} of twice the FFN width (split into views at load), optionally LongRoPE factors.
     */
    PHI3("phi3", RopeLayout.HALVES, false, false),
    /** Qwen2-MoE / Qwen1.5-MoE: qwen2's attention, sparse FFN blocks with a sigmoid-gated shared expert. */
    QWEN2MOE("qwen2moe", RopeLayout.HALVES, true, false),
    /** Qwen3-MoE (30B-A3B, 235B-A22B): qwen3's attention, sparse FFN blocks. */
    QWEN3MOE("qwen3moe", RopeLayout.HALVES, false, true),
    /**
     * Gemma 2: embeddings × √width, RMSNorm before and after attention and the FFN, GeGLU (tanh GELU), attention
     * scores and logits soft-capped, every other block (from the first) a sliding window. RoPE on halves.
     */
    GEMMA2("gemma2", RopeLayout.HALVES, false, false),
    /**
     * Gemma 3 (text): as gemma2 without soft-capping, plus Q/K head norms; five sliding blocks for every global one,
     * the sliding ones with their own RoPE base.
     */
    GEMMA3("gemma3", RopeLayout.HALVES, false, true);

    private final String ggufName;
    private final RopeLayout ropeLayout;
    private final boolean qkvBias;
    private final boolean qkNorm;

    Architecture(String ggufName, RopeLayout ropeLayout, boolean qkvBias, boolean qkNorm) {
        this.ggufName = ggufName;
        this.ropeLayout = ropeLayout;
        this.qkvBias = qkvBias;
        this.qkNorm = qkNorm;
    }

    public String ggufName() {
        return ggufName;
    }

    public RopeLayout ropeLayout() {
        return ropeLayout;
    }

    /** Whether Q, K and V projections carry a bias tensor. */
    public boolean hasQkvBias() {
        return qkvBias;
    }

    /** Whether each Q and K head is RMS-normalised before RoPE. */
    public boolean hasQkNorm() {
        return qkNorm;
    }

    /** Whether gate and up are one {@code ffn_up} tensor of 2 × FFN rows, gate first (phi3). */
    public boolean hasFusedGateUp() {
        return this == PHI3;
    }

    /**
     * Whether every model of this architecture is a mixture of experts (a llama may be one too: Mixtral, when its
     * metadata has {@code llama.expert_count}; see {@link MoeConfig}).
     */
    public boolean isMixtureOfExperts() {
        return this == QWEN2MOE || this == QWEN3MOE;
    }

    /**
     * Gemma's block: embeddings scaled by √width, a norm after attention and after the FFN as well as before,
     * GeGLU with the tanh GELU instead of SwiGLU.
     */
    public boolean isGemma() {
        return this == GEMMA2 || this == GEMMA3;
    }

    public static Optional<Architecture> byGgufName(String name) {
        return Arrays.stream(values()).filter(a -> a.ggufName.equals(name)).findFirst();
    }

    /** "llama, qwen2, qwen3, gemma2, gemma3" — for error messages. */
    public static String supportedNames() {
        return Arrays.stream(values()).map(Architecture::ggufName).collect(Collectors.joining(", "));
    }
}

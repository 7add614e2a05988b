package io.offload4j.model;

/** Which pairs of a head's dimensions RoPE rotates together. */
public enum RopeLayout {
    /** (x[2i], x[2i+1]) — ggml's "normal" mode, used for GGUF {@code llama} weights. */
    ADJACENT_PAIRS,
    /** (x[i], x[i + d/2]) — ggml's NEOX mode (Hugging Face's rotate_half), used by qwen2/qwen3. */
    HALVES
}

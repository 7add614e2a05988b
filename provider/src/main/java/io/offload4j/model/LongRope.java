package io.offload4j.model;

/**
 * Phi-3's "LongRoPE" (Hugging Face {@code rope_type} {@code longrope}, formerly {@code su}): two sets of
 * per-frequency divisors, one for contexts up to the length the model was pre-trained on and one for longer
 * contexts, plus a factor by which RoPE scales the rotated queries and keys. GGUF files carry the divisors as the
 * {@code rope_factors_short.weight} / {@code rope_factors_long.weight} tensors and the factor as
 * {@code <arch>.rope.scaling.attn_factor}.
 *
 * <p>Which set applies is decided once, from the context the engine is prepared for, as llama.cpp does: the long
 * divisors when that context exceeds {@code originalContext}. (transformers switches per forward call on the
 * current sequence length instead, so the two agree for any sequence when the context is at most
 * {@code originalContext}.)
 *
 * @param shortFactors     divisors of the inverse frequencies for contexts up to {@code originalContext}
 * @param longFactors      divisors for longer contexts
 * @param originalContext  the context the model was pre-trained on ({@code original_max_position_embeddings})
 * @param attentionFactor  cos and sin are multiplied by this, so every attention score by its square
 */
public record LongRope(float[] shortFactors, float[] longFactors, int originalContext, float attentionFactor) {

    public LongRope {
        if (shortFactors.length != longFactors.length) {
            throw new IllegalArgumentException("short and long RoPE factors differ in length: " + shortFactors.length
                    + " vs " + longFactors.length);
        }
    }

    /** The divisors for an engine whose sequences reach at most {@code context} positions. */
    public float[] factorsFor(int context) {
        return context > originalContext ? longFactors : shortFactors;
    }
}

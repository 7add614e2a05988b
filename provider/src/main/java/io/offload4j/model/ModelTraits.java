package io.offload4j.model;

import java.util.Arrays;

/**
 * What a model computes beyond its shape, where architectures differ in numbers rather than in tensors: the scale of
 * the embeddings and of the attention scores, tanh soft-capping, and which blocks attend through a sliding window
 * with which RoPE. {@link #standard} is what llama, qwen2 and qwen3 compute; Gemma 2 and 3 set the rest.
 *
 * @param embeddingScale     multiplies the embedding rows (Gemma: √width, rounded to float as transformers does in
 *                           float32); 1 otherwise
 * @param attentionScale     multiplies q·k before the softmax: 1/√headDim, or Gemma's 1/√query_pre_attn_scalar
 * @param attentionSoftcap   0 for none; else each score s becomes cap·tanh(s/cap) (Gemma 2, after the scale)
 * @param finalSoftcap       0 for none; else each logit becomes cap·tanh(logit/cap) (Gemma 2)
 * @param slidingWindow      0 when every block attends to the whole context; else W: a sliding block's position p
 *                           attends to positions p-W+1..p only
 * @param slidingBlocks      per block, whether it uses the window (all false without one)
 * @param slidingRopeBase    the RoPE base of sliding blocks (Gemma 3's rope_local_base_freq)
 * @param slidingRopeScaling the RoPE scaling of sliding blocks (Gemma 3 scales only its global blocks)
 */
public record ModelTraits(
        float embeddingScale,
        float attentionScale,
        float attentionSoftcap,
        float finalSoftcap,
        int slidingWindow,
        boolean[] slidingBlocks,
        float slidingRopeBase,
        RopeScaling slidingRopeScaling) {

    public ModelTraits {
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("sliding window " + slidingWindow + " is negative");
        }
        slidingBlocks = slidingBlocks.clone();
        if (slidingWindow == 0) {
            Arrays.fill(slidingBlocks, false);
        }
    }

    /** What llama, qwen2 and qwen3 compute: no scaling of embeddings, 1/√headDim, no caps, no window. */
    public static ModelTraits standard(int blocks, int headDim, float ropeBase, RopeScaling scaling) {
        return new ModelTraits(1f, (float) (1.0 / Math.sqrt(headDim)), 0f, 0f, 0, new boolean[blocks], ropeBase,
                scaling);
    }

    /** Whether block {@code block} attends through the sliding window. */
    public boolean sliding(int block) {
        return slidingBlocks[block];
    }

    /** Whether some block attends through a window (its KV cache then keeps only the window's rows for those blocks). */
    public boolean hasSlidingWindow() {
        for (boolean s : slidingBlocks) {
            if (s) {
                return true;
            }
        }
        return false;
    }

    /** The first position a sliding block at {@code pos} attends to (0 for a global block). */
    public int firstAttended(int block, int pos) {
        return slidingBlocks[block] ? Math.max(0, pos - slidingWindow + 1) : 0;
    }

    /** The same traits with {@code window} for the blocks {@code sliding} marks. */
    public ModelTraits withSlidingWindow(int window, boolean[] sliding) {
        return new ModelTraits(embeddingScale, attentionScale, attentionSoftcap, finalSoftcap, window, sliding,
                slidingRopeBase, slidingRopeScaling);
    }

    /** cap·tanh(x/cap), the soft cap Gemma 2 puts on attention scores and logits. */
    public static float softcap(float x, float cap) {
        return cap * (float) Math.tanh(x / cap);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ModelTraits t && embeddingScale == t.embeddingScale && attentionScale == t.attentionScale
                && attentionSoftcap == t.attentionSoftcap && finalSoftcap == t.finalSoftcap
                && slidingWindow == t.slidingWindow && Arrays.equals(slidingBlocks, t.slidingBlocks)
                && slidingRopeBase == t.slidingRopeBase && slidingRopeScaling.equals(t.slidingRopeScaling);
    }

    @Override
    public int hashCode() {
        return Float.hashCode(attentionScale) * 31 + Arrays.hashCode(slidingBlocks);
    }

    @Override
    public String toString() {
        return "ModelTraits[embeddingScale=" + embeddingScale + ", attentionScale=" + attentionScale
                + ", attentionSoftcap=" + attentionSoftcap + ", finalSoftcap=" + finalSoftcap + ", slidingWindow="
                + slidingWindow + ", slidingBlocks=" + Arrays.toString(slidingBlocks) + ", slidingRopeBase="
                + slidingRopeBase + ", slidingRopeScaling=" + slidingRopeScaling + "]";
    }
}

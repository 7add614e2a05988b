package io.offload4j.model;

import java.util.List;

/**
 * All weights of a model.
 *
 * @param tokenEmbedding        [vocab rows × width]
 * @param output                [vocab rows × width]; the embedding itself when the model ties them
 * @param ropeFrequencyFactors  Llama 3.1-style per-frequency divisors ({@code rope_freqs.weight}), or null
 * @param longRope              Phi-3's short/long divisors and attention factor, or null
 */
public record ModelWeights(
        Weight tokenEmbedding,
        List<BlockWeights> blocks,
        float[] outputNorm,
        Weight output,
        boolean tiedEmbeddings,
        float[] ropeFrequencyFactors,
        LongRope longRope) {

    /** Weights without LongRoPE factors. */
    public ModelWeights(Weight tokenEmbedding, List<BlockWeights> blocks, float[] outputNorm, Weight output,
                        boolean tiedEmbeddings, float[] ropeFrequencyFactors) {
        this(tokenEmbedding, blocks, outputNorm, output, tiedEmbeddings, ropeFrequencyFactors, null);
    }

    public long totalMatrixBytes() {
        long n = tokenEmbedding.byteSize() + (tiedEmbeddings ? 0 : output.byteSize());
        for (BlockWeights b : blocks) {
            n += b.matrixBytes();
        }
        return n;
    }
}

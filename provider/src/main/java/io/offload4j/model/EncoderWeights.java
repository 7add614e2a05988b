package io.offload4j.model;

import java.util.List;

/**
 * The weights of an encoder: matrices as {@link Weight}s (views of the mapped file, any format the CPU kernels
 * decode), vectors decoded to floats at load.
 *
 * @param positions  the position table, {@code maxPositions × dim}, row-major
 * @param tokenTypes the token-type table, {@code tokenTypes × dim}
 * @param classifier the sequence-classification head, or null for an embedding model
 */
public record EncoderWeights(Weight tokenEmbedding, float[] positions, float[] tokenTypes, float[] embeddingNorm,
                             float[] embeddingNormBias, List<Layer> layers, Classifier classifier) {

    /** One post-LayerNorm block. */
    public record Layer(int index, Weight wq, float[] bq, Weight wk, float[] bk, Weight wv, float[] bv, Weight wo,
                        float[] bo, float[] attentionNorm, float[] attentionNormBias, Weight up, float[] upBias,
                        Weight down, float[] downBias, float[] outputNorm, float[] outputNormBias) {}

    /** dense → tanh → out on the [CLS] row: RoBERTa's classification head, or BERT's pooler + classifier. */
    public record Classifier(Weight dense, float[] denseBias, Weight out, float[] outBias) {}
}

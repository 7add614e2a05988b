package io.offload4j.model;

import java.util.List;

/**
 * The weights of an encoder: matrices as {@link Weight}s (views of the mapped file, any format the CPU kernels
 * decode), vectors decoded to floats at load.
 *
 * @param positions  the position table, {@code maxPositions × dim}, row-major; null for rotary positions
 *                   ({@link EncoderConfig#rotary()})
 * @param tokenTypes the token-type table, {@code tokenTypes × dim}
 * @param classifier the sequence-classification head, or null for an embedding model
 */
public record EncoderWeights(Weight tokenEmbedding, float[] positions, float[] tokenTypes, float[] embeddingNorm,
                             float[] embeddingNormBias, List<Layer> layers, Classifier classifier) {

    /**
     * One post-LayerNorm block. The projection biases ({@code bq bk bv bo upBias downBias}) are null where the model
     * has none (nomic-bert); the LayerNorms always have theirs. A fused QKV tensor is held as three row slices of it.
     *
     * @param gate SwiGLU's gate projection (nomic-bert's {@code fc12}): the feed-forward is
     *             {@code down(silu(gate·x) ⊙ up·x)}; null: BERT's {@code down(gelu(up·x + upBias))}
     */
    public record Layer(int index, Weight wq, float[] bq, Weight wk, float[] bk, Weight wv, float[] bv, Weight wo,
                        float[] bo, float[] attentionNorm, float[] attentionNormBias, Weight up, float[] upBias,
                        Weight down, float[] downBias, float[] outputNorm, float[] outputNormBias, Weight gate) {

        /** A BERT block: GELU feed-forward, no gate. */
        public Layer(int index, Weight wq, float[] bq, Weight wk, float[] bk, Weight wv, float[] bv, Weight wo,
                     float[] bo, float[] attentionNorm, float[] attentionNormBias, Weight up, float[] upBias,
                     Weight down, float[] downBias, float[] outputNorm, float[] outputNormBias) {
            this(index, wq, bq, wk, bk, wv, bv, wo, bo, attentionNorm, attentionNormBias, up, upBias, down, downBias,
                    outputNorm, outputNormBias, null);
        }
    }

    /** dense → tanh → out on the [CLS] row: RoBERTa's classification head, or BERT's pooler + classifier. */
    public record Classifier(Weight dense, float[] denseBias, Weight out, float[] outBias) {}
}

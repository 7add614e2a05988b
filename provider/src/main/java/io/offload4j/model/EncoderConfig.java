package io.offload4j.model;

/**
 * The shape of a BERT-family encoder (BERT, RoBERTa, XLM-RoBERTa): learned absolute positions, token types,
 * post-LayerNorm blocks, GELU feed-forward, bidirectional attention.
 *
 * @param family            which member: the tokenizer's framing and the position offset follow it
 * @param positionOffset    the row of the position table that position 0 reads: RoBERTa's {@code padding_idx + 1}
 *                          in a Hugging Face checkpoint, 0 in a GGUF (llama.cpp's converter drops those rows)
 * @param geluTanh          GELU in its tanh approximation ({@code gelu_new}); false: exact GELU (erf), BERT's own
 * @param labels            outputs of a sequence-classification head (1 for a re-ranker), 0 without one
 * @param poolerHead        the head reads the [CLS] row through BERT's pooler (dense, tanh) and then a classifier;
 *                          false: RoBERTa's classification head (dense, tanh, out_proj)
 */
public record EncoderConfig(String name, Family family, int vocabularySize, int embeddingLength, int blockCount,
                            int headCount, int feedForwardLength, int maxPositions, int tokenTypes, float layerNormEps,
                            int positionOffset, boolean geluTanh, int labels, boolean poolerHead) {

    /** The encoders this engine runs. */
    public enum Family { BERT, XLM_ROBERTA }

    public EncoderConfig {
        if (embeddingLength < 1 || blockCount < 1 || headCount < 1 || feedForwardLength < 1 || maxPositions < 1
                || vocabularySize < 1 || tokenTypes < 1) {
            throw new IllegalArgumentException("every size of an encoder must be positive: " + this);
        }
        if (embeddingLength % headCount != 0) {
            throw new IllegalArgumentException("embedding length " + embeddingLength + " is not a multiple of "
                    + headCount + " heads");
        }
    }

    public int headDim() {
        return embeddingLength / headCount;
    }

    /** The longest input: the position table's rows past the offset. */
    public int maxTokens() {
        return maxPositions - positionOffset;
    }
}

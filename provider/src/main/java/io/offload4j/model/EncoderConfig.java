package io.offload4j.model;

/**
 * The shape of a BERT-family encoder (BERT, RoBERTa, XLM-RoBERTa, nomic-bert): token types, post-LayerNorm blocks,
 * bidirectional attention; learned absolute positions and a GELU feed-forward (BERT, RoBERTa), or rotary positions
 * and a SwiGLU feed-forward (nomic-bert: {@link #rotaryBase()} above 0, every layer with a gate,
 * {@link EncoderWeights.Layer#gate()}).
 *
 * @param family            which member: the tokenizer's framing and the position offset follow it
 * @param positionOffset    the row of the position table that position 0 reads: RoBERTa's {@code padding_idx + 1}
 *                          in a Hugging Face checkpoint, 0 in a GGUF (llama.cpp's converter drops those rows)
 * @param geluTanh          GELU in its tanh approximation ({@code gelu_new}); false: exact GELU (erf), BERT's own
 * @param labels            outputs of a sequence-classification head (1 for a re-ranker), 0 without one
 * @param poolerHead        the head reads the [CLS] row through BERT's pooler (dense, tanh) and then a classifier;
 *                          false: RoBERTa's classification head (dense, tanh, out_proj)
 * @param rotaryBase        0: learned absolute positions (a position table); above 0: rotary positions over each
 *                          whole head, NEOX layout (dimension i turns with i + headDim/2), θ_i = base^(-2i/headDim),
 *                          and no position table (nomic-bert, whose v1 / v1.5 use 1000)
 */
public record EncoderConfig(String name, Family family, int vocabularySize, int embeddingLength, int blockCount,
                            int headCount, int feedForwardLength, int maxPositions, int tokenTypes, float layerNormEps,
                            int positionOffset, boolean geluTanh, int labels, boolean poolerHead, float rotaryBase) {

    /** The encoders this engine runs. */
    public enum Family { BERT, XLM_ROBERTA }

    /** An encoder with learned absolute positions ({@link #rotaryBase()} 0). */
    public EncoderConfig(String name, Family family, int vocabularySize, int embeddingLength, int blockCount,
                         int headCount, int feedForwardLength, int maxPositions, int tokenTypes, float layerNormEps,
                         int positionOffset, boolean geluTanh, int labels, boolean poolerHead) {
        this(name, family, vocabularySize, embeddingLength, blockCount, headCount, feedForwardLength, maxPositions,
                tokenTypes, layerNormEps, positionOffset, geluTanh, labels, poolerHead, 0f);
    }

    public EncoderConfig {
        if (!(rotaryBase >= 0) || Float.isInfinite(rotaryBase)) {
            throw new IllegalArgumentException("rotary base " + rotaryBase + " of an encoder must be 0 (learned"
                    + " positions) or a positive number");
        }
        if (rotaryBase > 0 && (embeddingLength / Math.max(1, headCount)) % 2 != 0) {
            throw new IllegalArgumentException("rotary positions need an even head dimension, not "
                    + embeddingLength / headCount);
        }
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

    /** Whether positions are rotary (nomic-bert) rather than a learned table. */
    public boolean rotary() {
        return rotaryBase > 0;
    }

    /** The longest input: the position table's rows past the offset. */
    public int maxTokens() {
        return maxPositions - positionOffset;
    }
}

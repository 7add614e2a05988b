package io.offload4j.backend;

import io.offload4j.model.EncoderConfig;

/**
 * A BERT-family encoder prepared on a device. One call runs several whole inputs at once, <em>packed</em>: their
 * tokens one after another as the rows of one activation matrix, each row attending only to the rows of its own
 * input (bidirectionally). Packing rather than padding to the longest input: every row is a real token, so no work
 * is spent on padding and no attention mask is needed, and each weight is still read once for all inputs of the
 * call. The pass owns its buffers (sized at preparation); calls must not overlap.
 */
public interface EncoderPass extends AutoCloseable {

    EncoderConfig config();

    /** The most rows (tokens of all inputs together) one call takes. */
    int maxRows();

    /**
     * Runs {@code sequences} inputs: input {@code s} is {@code lengths[s]} tokens of {@code ids} (token types in
     * {@code typeIds}), following input {@code s-1}'s. Writes the last block's output for every row into
     * {@code hidden} (row-major, {@code rows × embeddingLength}).
     */
    void encode(int[] ids, int[] typeIds, int[] lengths, int sequences, float[] hidden);

    /**
     * The classification head on each input's first ([CLS]) row of an {@link #encode}d {@code hidden}: input
     * {@code s}'s logits into {@code logits[s * labels ..]}.
     */
    void classify(float[] hidden, int[] lengths, int sequences, float[] logits);

    /** A human-readable description of the device, for the load log. */
    String description();

    @Override
    void close();
}

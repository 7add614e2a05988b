package io.offload4j.backend;

import io.offload4j.model.ModelConfig;

/**
 * A model prepared on a device. One call runs a chunk of a sequence's tokens through every block
 * and produces the logits of the chunk's last token. Calls for different sequences must not
 * overlap (the engine serialises them); the pass owns scratch buffers sized at preparation, so
 * a call allocates nothing.
 */
public interface ForwardPass extends AutoCloseable {

    ModelConfig config();

    /** The most tokens one {@link #forward} call may process. */
    int maxChunkTokens();

    /** The most positions a KV cache of this pass can hold. */
    int maxContext();

    /** A KV cache for one sequence, holding up to {@code capacity} positions (at most {@link #maxContext()}). */
    KvCache newKvCache(int capacity);

    /**
     * Runs {@code tokens[offset .. offset+count)} at positions {@code startPos ..} of the sequence whose
     * cache is {@code cache} (positions before {@code startPos} must already be in it), and writes the
     * logits of the last of these tokens into {@code logits} (length: vocabulary size).
     */
    void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits);

    /**
     * Runs {@code tokens[offset .. offset+count)} at positions {@code startPos ..} of one sequence like
     * {@link #forward}, but writes the logits of <em>every</em> one of these tokens: row {@code t}'s into
     * {@code logits[t]}. This is the verification pass of speculative decoding: the last accepted token and k
     * drafted ones checked in one pass, which reads (or streams) each weight once. Row {@code t}'s logits equal those
     * of a one-token {@link #forward} at position {@code startPos + t} (to rounding). The KV entries of all the rows
     * are written; those of rejected drafts are simply overwritten by later steps (attention at position p reads
     * positions 0..p only). This default runs the tokens one after another, so a decorator that only overrides
     * {@link #forward} stays correct.
     */
    default void forwardAll(KvCache cache, int[] tokens, int offset, int count, int startPos, float[][] logits) {
        if (count < 1 || count > logits.length) {
            throw new IllegalArgumentException("forwardAll of " + count + " tokens with " + logits.length
                    + " logits rows; it takes 1 to logits.length tokens");
        }
        for (int t = 0; t < count; t++) {
            forward(cache, tokens, offset + t, 1, startPos + t, logits[t]);
        }
    }

    /**
     * One step of {@code batch} rows: row {@code b} runs token {@code tokens[b]} at position {@code positions[b]} of the
     * sequence whose cache is {@code caches[b]}, and its logits go to {@code logits[b]}. Mostly one row per sequence
     * (a decode step of many sequences), but a sequence may have several rows (a <em>mixed step</em>: speculative
     * decoding verifies a sequence's last token and its drafts in the same step as the other sequences' decode rows):
     * a sequence's rows are adjacent, at consecutive positions in order ({@link #checkRowsOfOneSequence}), and each
     * attends to the rows before it, as in {@link #forwardAll}. A backend that streams weights reads each of them once
     * per step for all the rows. Each row's logits equal those of a {@link #forward} call for it alone (to rounding).
     * This default runs the rows one after another.
     */
    default void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
        checkRowsOfOneSequence(caches, positions, 0, batch);
        for (int b = 0; b < batch; b++) {
            forward(caches[b], tokens, b, 1, positions[b], logits[b]);
        }
    }

    /**
     * Refuses a batch (rows {@code from .. from+n-1}) in which a sequence's rows are not adjacent and at consecutive
     * positions: a cache seen again later than the row right after its last must not appear, and a row of the same
     * cache as the row before it must be at the next position. Checked before any work, so a refused batch leaves
     * every cache as it was.
     */
    static void checkRowsOfOneSequence(KvCache[] caches, int[] positions, int from, int n) {
        for (int b = from + 1; b < from + n; b++) {
            if (caches[b] == caches[b - 1]) {
                if (positions[b] != positions[b - 1] + 1) {
                    throw new IllegalArgumentException("rows " + (b - 1 - from) + " and " + (b - from) + " of the"
                            + " batch are one sequence's at positions " + positions[b - 1] + " and " + positions[b]
                            + "; a sequence's rows in one step must be at consecutive positions, in order");
                }
                continue;
            }
            for (int a = from; a < b - 1; a++) {
                if (caches[a] == caches[b]) {
                    throw new IllegalArgumentException("rows " + (a - from) + " and " + (b - from) + " of the batch"
                            + " share a KV cache but are not adjacent; a sequence's rows in one step must follow each"
                            + " other, at consecutive positions");
                }
            }
        }
    }

    /**
     * The final hidden states of several whole sequences, for embedding models: sequence {@code s} is
     * {@code lengths[s]} tokens of {@code tokens}, following sequence {@code s-1}'s, run from position 0 of its own
     * fresh cache {@code caches[s]}, all in one pass of at most {@link #maxChunkTokens()} tokens together. Attention
     * stays within each sequence: causal, or with {@code bidirectional} every token attending to all the tokens of
     * its sequence (gte-Qwen2-style models trained without the causal mask; a sequence is never split over calls,
     * and a model with a sliding window is refused). Row {@code t}'s hidden state after the output norm goes to
     * {@code hidden[t * embeddingLength ..]}. The output head is not computed.
     */
    default void forwardHidden(KvCache[] caches, int[] tokens, int[] lengths, int sequences, float[] hidden,
                               boolean bidirectional) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not produce hidden states");
    }

    /** Refuses bidirectional attention for a model with sliding-window blocks (a window is a causal notion). */
    static void checkBidirectional(ModelConfig config, boolean bidirectional) {
        if (bidirectional && config.traits().hasSlidingWindow()) {
            throw new IllegalArgumentException("bidirectional attention for " + config.name() + ", whose blocks attend"
                    + " through a sliding window of " + config.traits().slidingWindow() + " positions: not supported");
        }
    }

    /**
     * Bytes of accelerator memory free now for KV caches (the least over the devices a pipeline spans, each of which
     * holds its own blocks' keys and values), or -1 when this pass keeps its KV caches on the Java heap (the CPU).
     */
    default long freeDeviceMemory() {
        return -1;
    }

    /** A human-readable breakdown of the memory this pass holds (weights per tier, activations, staging). */
    default String memoryReport() {
        return "all weights in host memory (file mapping)";
    }

    @Override
    void close();

    /**
     * Sets who is told which experts each sparse block chose ({@link MoeRoutingListener#NONE} to stop). A pass of a
     * dense model has nothing to tell; a device that cannot report routing says so by throwing.
     */
    default void routingListener(MoeRoutingListener listener) {
        if (config().isMixtureOfExperts()) {
            throw new UnsupportedOperationException(getClass().getSimpleName() + " does not report expert routing");
        }
    }
}

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
     * Decodes one token for each of {@code batch} sequences in one step: token {@code tokens[b]} at position
     * {@code positions[b]} of the sequence whose cache is {@code caches[b]}; its logits go to {@code logits[b]}.
     * A backend that streams weights reads each of them once per step for the whole batch. Each sequence's
     * logits equal those of a {@link #forward} call for it alone (to rounding). This default runs the
     * sequences one after another.
     */
    default void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
        for (int b = 0; b < batch; b++) {
            forward(caches[b], tokens, b, 1, positions[b], logits[b]);
        }
    }

    /** A human-readable breakdown of the memory this pass holds (weights per tier, activations, staging). */
    default String memoryReport() {
        return "all weights in host memory (file mapping)";
    }

    @Override
    void close();
}

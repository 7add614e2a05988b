package io.offload4j.backend;

/**
 * How a model is prepared on an accelerator.
 *
 * @param maxContext    the most positions a KV cache holds
 * @param maxChunk      the most prompt tokens one step takes
 * @param maxBatchRows  the most sequences one batched decode step takes (activation rows: the larger of the two)
 * @param gemmMinTokens steps of at least this many rows multiply on tensor cores (weights dequantized to fp16);
 *                      shorter ones use the matrix-vector kernels
 * @param graphs        whether a decode step with every unit resident is captured once as a CUDA graph and replayed
 */
public record AcceleratorOptions(int maxContext, int maxChunk, int maxBatchRows, int gemmMinTokens, boolean graphs) {

    public static final int DEFAULT_MAX_BATCH_ROWS = 64;
    public static final int DEFAULT_GEMM_MIN_TOKENS = 16;

    public AcceleratorOptions {
        if (maxContext < 1 || maxChunk < 1 || maxBatchRows < 1) {
            throw new IllegalArgumentException("maxContext, maxChunk and maxBatchRows must be positive, were "
                    + maxContext + ", " + maxChunk + ", " + maxBatchRows);
        }
        if (gemmMinTokens < 1) {
            throw new IllegalArgumentException("gemmMinTokens must be positive, was " + gemmMinTokens);
        }
    }

    /** Activation rows: a prompt chunk's tokens or a batch's sequences, whichever is more. */
    public int rows() {
        return Math.max(maxChunk, maxBatchRows);
    }
}

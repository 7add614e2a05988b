package io.offload4j.backend;

/**
 * How a model is prepared on an accelerator.
 *
 * @param maxContext    the most positions a KV cache holds
 * @param maxChunk      the most prompt tokens one step takes
 * @param maxBatchRows  the most sequences one batched decode step takes (activation rows: the larger of the two)
 * @param gemmMinTokens steps of at least this many rows multiply on tensor cores (up to 64 rows with the weights
 *                      decoded in shared memory, longer steps with them dequantized to fp16 first); shorter ones use
 *                      the matrix-vector kernels
 * @param graphs        whether a decode step with every unit resident (one sequence, or a batch: one graph per row
 *                      count) is captured once as a CUDA graph and replayed
 * @param firstBlock    the first block this device computes (0 unless the model is split over several devices)
 * @param endBlock      one past the last block it computes ({@link #TO_THE_END}: the model's last); its KV caches
 *                      hold these blocks only
 */
public record AcceleratorOptions(int maxContext, int maxChunk, int maxBatchRows, int gemmMinTokens, boolean graphs,
                                 int firstBlock, int endBlock) {

    /** {@link #endBlock}: every block from {@link #firstBlock} on. */
    public static final int TO_THE_END = Integer.MAX_VALUE;

    /** A device that computes every block. */
    public AcceleratorOptions(int maxContext, int maxChunk, int maxBatchRows, int gemmMinTokens, boolean graphs) {
        this(maxContext, maxChunk, maxBatchRows, gemmMinTokens, graphs, 0, TO_THE_END);
    }

    public static final int DEFAULT_MAX_BATCH_ROWS = 64;
    public static final int DEFAULT_GEMM_MIN_TOKENS = 5;

    public AcceleratorOptions {
        if (maxContext < 1 || maxChunk < 1 || maxBatchRows < 1) {
            throw new IllegalArgumentException("maxContext, maxChunk and maxBatchRows must be positive, were "
                    + maxContext + ", " + maxChunk + ", " + maxBatchRows);
        }
        if (firstBlock < 0 || endBlock <= firstBlock) {
            throw new IllegalArgumentException("blocks " + firstBlock + ".." + endBlock + " are not a range");
        }
        if (gemmMinTokens < 1) {
            throw new IllegalArgumentException("gemmMinTokens must be positive, was " + gemmMinTokens);
        }
    }

    /** Activation rows: a prompt chunk's tokens or a batch's sequences, whichever is more. */
    public int rows() {
        return Math.max(maxChunk, maxBatchRows);
    }

    /** These options for a device that computes blocks {@code first .. end-1} of the model. */
    public AcceleratorOptions withBlocks(int first, int end) {
        return new AcceleratorOptions(maxContext, maxChunk, maxBatchRows, gemmMinTokens, graphs, first, end);
    }

    /** How many blocks this device computes, of a model of {@code blockCount}. */
    public int blockCount(int modelBlocks) {
        return Math.min(endBlock, modelBlocks) - firstBlock;
    }
}

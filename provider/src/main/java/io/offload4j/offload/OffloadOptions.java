package io.offload4j.offload;

import io.offload4j.backend.AcceleratorOptions;

/**
 * How a model is placed on an accelerator, streamed, and run there.
 *
 * @param gpuMemoryBudget        bytes of GPU memory the weights may occupy (resident blocks plus the staging
 *                               ring); {@link #AUTO} = free memory minus a margin, the KV cache and activations
 * @param hostPinnedMemoryBudget bytes of pinned host memory for streamed blocks; {@link #AUTO} = as much as the
 *                               streamed blocks need, up to half of the physical memory. Blocks beyond it stream
 *                               from the file mapping through pinned staging buffers.
 * @param prefetchDepth          how many streamed blocks are copied ahead of the block being computed (≥ 1)
 * @param placement              what happens to blocks that do not fit ({@link PlacementPolicy})
 * @param maxBatchRows           the most sequences one batched decode step runs on the GPU at once (its activation
 *                               rows); larger batches run in parts
 * @param gemmMinTokens          GPU steps of at least this many rows multiply on tensor cores
 * @param graphs                 whether a decode step with every block resident (one sequence, or a batched step) is
 *                               replayed as a CUDA graph
 * @param expertCache            a mixture of experts that does not fit the GPU: {@code true} (the default) places its
 *                               experts one by one (the attention parts first, the experts in a GPU cache of expert
 *                               slots, see {@link ExpertTier}); {@code false} places each sparse block whole, like a
 *                               dense block, which prefills faster (streamed at the PCIe limit) but decodes several
 *                               times slower (on an H100, Qwen3-30B-A3B-shaped at 8 GiB: 2,430 against 1,547 tok/s
 *                               prefill, 18.5 against 105.9 tok/s decode). A model that fits is resident either way;
 *                               pipeline stages over several GPUs place sparse blocks whole.
 * @param expertPrefetch         with {@code expertCache}: prompt chunks (16 rows or more) always apply each sparse
 *                               block's successor's router to the block's own FFN input and copy the experts it
 *                               predicts that are not on the GPU while the block computes (the successor's attention
 *                               part must be resident); {@code true} (the default) does so in every step, decode
 *                               included (a token's k experts): on an H100 1.25-1.44x decode with the decode steps'
 *                               recorded graphs, slower without them ({@code graphs} off), where the host's launches
 *                               bound the step.
 */
public record OffloadOptions(long gpuMemoryBudget, long hostPinnedMemoryBudget, int prefetchDepth,
                             PlacementPolicy placement, int maxBatchRows, int gemmMinTokens, boolean graphs,
                             boolean expertCache, boolean expertPrefetch) {

    public static final long AUTO = -1;
    public static final int DEFAULT_PREFETCH_DEPTH = 2;
    public static final OffloadOptions DEFAULTS = new OffloadOptions(AUTO, AUTO, DEFAULT_PREFETCH_DEPTH,
            PlacementPolicy.AUTO);

    public OffloadOptions {
        if (gpuMemoryBudget < 0 && gpuMemoryBudget != AUTO) {
            throw new IllegalArgumentException("gpuMemoryBudget must be >= 0 bytes or AUTO (-1), was " + gpuMemoryBudget);
        }
        if (hostPinnedMemoryBudget < 0 && hostPinnedMemoryBudget != AUTO) {
            throw new IllegalArgumentException("hostPinnedMemoryBudget must be >= 0 bytes or AUTO (-1), was "
                    + hostPinnedMemoryBudget);
        }
        if (prefetchDepth < 1) {
            throw new IllegalArgumentException("prefetchDepth must be >= 1, was " + prefetchDepth);
        }
        if (placement == null) {
            placement = PlacementPolicy.AUTO;
        }
        if (maxBatchRows < 1) {
            throw new IllegalArgumentException("maxBatchRows must be >= 1, was " + maxBatchRows);
        }
        if (gemmMinTokens < 1) {
            throw new IllegalArgumentException("gemmMinTokens must be >= 1, was " + gemmMinTokens);
        }
    }

    /** As before expert placement was an option: sparse blocks are placed whole. */
    public OffloadOptions(long gpuMemoryBudget, long hostPinnedMemoryBudget, int prefetchDepth,
                          PlacementPolicy placement, int maxBatchRows, int gemmMinTokens, boolean graphs) {
        this(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement, maxBatchRows, gemmMinTokens, graphs,
                false, true);
    }

    /** With expert prefetching at decode (the default where the expert cache is on). */
    public OffloadOptions(long gpuMemoryBudget, long hostPinnedMemoryBudget, int prefetchDepth,
                          PlacementPolicy placement, int maxBatchRows, int gemmMinTokens, boolean graphs,
                          boolean expertCache) {
        this(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement, maxBatchRows, gemmMinTokens, graphs,
                expertCache, true);
    }

    /** Budgets, depth and placement; the GPU's batch rows, tensor-core threshold and graphs at their defaults. */
    public OffloadOptions(long gpuMemoryBudget, long hostPinnedMemoryBudget, int prefetchDepth,
                          PlacementPolicy placement) {
        this(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement,
                AcceleratorOptions.DEFAULT_MAX_BATCH_ROWS, AcceleratorOptions.DEFAULT_GEMM_MIN_TOKENS, true, true, true);
    }

    public OffloadOptions withGpuMemoryBudget(long bytes) {
        return new OffloadOptions(bytes, hostPinnedMemoryBudget, prefetchDepth, placement, maxBatchRows,
                gemmMinTokens, graphs, expertCache, expertPrefetch);
    }

    public OffloadOptions withHostPinnedMemoryBudget(long bytes) {
        return new OffloadOptions(gpuMemoryBudget, bytes, prefetchDepth, placement, maxBatchRows, gemmMinTokens,
                graphs, expertCache, expertPrefetch);
    }

    public OffloadOptions withPrefetchDepth(int depth) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, depth, placement, maxBatchRows,
                gemmMinTokens, graphs, expertCache, expertPrefetch);
    }

    public OffloadOptions withPlacement(PlacementPolicy p) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, p, maxBatchRows,
                gemmMinTokens, graphs, expertCache, expertPrefetch);
    }

    /** {@code auto}, {@code stream} or {@code cpu}, as users write it. */
    public OffloadOptions withPlacement(String p) {
        return withPlacement(PlacementPolicy.parse(p));
    }

    public OffloadOptions withMaxBatchRows(int rows) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement, rows,
                gemmMinTokens, graphs, expertCache, expertPrefetch);
    }

    public OffloadOptions withGemmMinTokens(int tokens) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement, maxBatchRows,
                tokens, graphs, expertCache, expertPrefetch);
    }

    /** Experts of a mixture of experts placed one by one in a GPU expert cache (see {@link #expertCache}). */
    public OffloadOptions withExpertCache(boolean on) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement, maxBatchRows,
                gemmMinTokens, graphs, on, expertPrefetch);
    }

    /** With the expert cache: copy the experts the next block's router predicts ahead (see {@link #expertPrefetch}). */
    public OffloadOptions withExpertPrefetch(boolean on) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement, maxBatchRows,
                gemmMinTokens, graphs, expertCache, on);
    }

    public OffloadOptions withGraphs(boolean on) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, placement, maxBatchRows,
                gemmMinTokens, on, expertCache, expertPrefetch);
    }
}

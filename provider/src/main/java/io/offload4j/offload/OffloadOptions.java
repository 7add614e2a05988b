package io.offload4j.offload;

/**
 * How a model that may not fit in GPU memory is placed and streamed.
 *
 * @param gpuMemoryBudget        bytes of GPU memory the weights may occupy (resident blocks plus the staging
 *                               ring); {@link #AUTO} = free memory minus a margin, the KV cache and activations
 * @param hostPinnedMemoryBudget bytes of pinned host memory for streamed blocks; {@link #AUTO} = as much as the
 *                               streamed blocks need, up to half of the physical memory. Blocks beyond it stream
 *                               from the file mapping through pinned staging buffers.
 * @param prefetchDepth          how many streamed blocks are copied ahead of the block being computed (≥ 1)
 * @param placement              {@code auto} (the planner decides per block from measured bandwidths),
 *                               {@code stream} (never compute on the CPU) or {@code cpu} (off-GPU blocks always
 *                               computed on the CPU, as llama.cpp does)
 */
public record OffloadOptions(long gpuMemoryBudget, long hostPinnedMemoryBudget, int prefetchDepth, String placement) {

    public static final long AUTO = -1;
    public static final int DEFAULT_PREFETCH_DEPTH = 2;
    public static final OffloadOptions DEFAULTS = new OffloadOptions(AUTO, AUTO, DEFAULT_PREFETCH_DEPTH, "auto");

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
            placement = "auto";
        }
        if (!placement.equals("auto") && !placement.equals("stream") && !placement.equals("cpu")) {
            throw new IllegalArgumentException("placement must be auto, stream or cpu, was '" + placement + "'");
        }
    }

    public OffloadOptions withGpuMemoryBudget(long bytes) {
        return new OffloadOptions(bytes, hostPinnedMemoryBudget, prefetchDepth, placement);
    }

    public OffloadOptions withHostPinnedMemoryBudget(long bytes) {
        return new OffloadOptions(gpuMemoryBudget, bytes, prefetchDepth, placement);
    }

    public OffloadOptions withPrefetchDepth(int depth) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, depth, placement);
    }

    public OffloadOptions withPlacement(String p) {
        return new OffloadOptions(gpuMemoryBudget, hostPinnedMemoryBudget, prefetchDepth, p);
    }
}

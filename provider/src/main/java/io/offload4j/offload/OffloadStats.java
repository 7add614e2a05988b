package io.offload4j.offload;

/**
 * A snapshot of where a model's weights are and what moving them has cost so far.
 *
 * @param residentBlocks   transformer blocks kept in GPU memory
 * @param streamedBlocks   blocks copied to the GPU for every step
 * @param cpuBlocks        blocks computed on the CPU from host memory
 * @param gpuBytesResident bytes of weights resident in GPU memory (blocks, embeddings, output)
 * @param stagingBytes     bytes of GPU memory in the staging ring for streamed blocks
 * @param hostPinnedBytes  bytes of streamed weights held in pinned host memory
 * @param cacheHits        block accesses served from GPU memory
 * @param cacheMisses      block accesses that needed a copy (or CPU compute)
 * @param cacheEvictions   blocks evicted from the GPU cache
 * @param cacheLoads       blocks copied into the GPU cache
 * @param bytesStreamed    bytes copied host → GPU for streamed blocks, in total
 * @param copyNanos        time the copy stream spent on those copies (event-timed), in total
 * @param steps            forward steps (prefill chunks or decode batches) run
 * @param cpuNanos         time the CPU spent computing its blocks (batch-1 decode), in total
 * @param cpuWaitNanos     time the CPU waited, before its blocks, for the GPU's work ahead of them (the units
 *                         before, and any copy those wait for), in total
 * @param experts          the GPU expert cache's counts (per block and in total) when a mixture of experts has its
 *                         experts placed one by one ({@code OffloadOptions.expertCache}), else null; the fields above
 *                         then count the attention parts (and head slices) as the units
 */
public record OffloadStats(int residentBlocks, int streamedBlocks, int cpuBlocks, long gpuBytesResident,
                           long stagingBytes, long hostPinnedBytes, long cacheHits, long cacheMisses,
                           long cacheEvictions, long cacheLoads, long bytesStreamed, long copyNanos, long steps,
                           long cpuNanos, long cpuWaitNanos, ExpertCacheStats experts) {

    /** Without an expert cache. */
    public OffloadStats(int residentBlocks, int streamedBlocks, int cpuBlocks, long gpuBytesResident,
                        long stagingBytes, long hostPinnedBytes, long cacheHits, long cacheMisses,
                        long cacheEvictions, long cacheLoads, long bytesStreamed, long copyNanos, long steps,
                        long cpuNanos, long cpuWaitNanos) {
        this(residentBlocks, streamedBlocks, cpuBlocks, gpuBytesResident, stagingBytes, hostPinnedBytes, cacheHits,
                cacheMisses, cacheEvictions, cacheLoads, bytesStreamed, copyNanos, steps, cpuNanos, cpuWaitNanos,
                null);
    }

    /** These statistics with the expert cache's. */
    public OffloadStats withExperts(ExpertCacheStats x) {
        return new OffloadStats(residentBlocks, streamedBlocks, cpuBlocks, gpuBytesResident, stagingBytes,
                hostPinnedBytes, cacheHits, cacheMisses, cacheEvictions, cacheLoads, bytesStreamed, copyNanos, steps,
                cpuNanos, cpuWaitNanos, x);
    }

    /** For a pass with nothing offloaded (the CPU backend, or a model wholly resident). */
    public static OffloadStats allResident(int blocks, long gpuBytes) {
        return new OffloadStats(blocks, 0, 0, gpuBytes, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
    }

    /** Achieved host → GPU bandwidth of the streamed copies in GB/s (10^9 bytes/s), 0 before any copy. */
    public double streamedGigabytesPerSecond() {
        return copyNanos == 0 ? 0 : bytesStreamed / (double) copyNanos;
    }

    /** Fraction of block accesses served from GPU memory, 1 when nothing was accessed. */
    public double hitRate() {
        long all = cacheHits + cacheMisses;
        return all == 0 ? 1 : cacheHits / (double) all;
    }
}

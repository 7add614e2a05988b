package io.offload4j.offload;

/**
 * What the GPU expert cache of a mixture of experts placed one by one has done so far: per block, accesses served
 * from a GPU slot (hits) or needing a copy (misses; later uses of that copy in the same step count as hits), experts
 * displaced (evictions) and copies admission refused to keep (rejections). Hits + misses = k × tokens per sparse
 * block.
 *
 * @param hits         per block
 * @param misses       per block
 * @param evictions    per block
 * @param rejections   per block
 * @param copies       experts copied host → GPU, in total
 * @param bytesCopied  their bytes
 * @param cpuComputed  misses of decode tokens computed on the CPU from host memory (each also copied to the GPU in the
 *                     background, for admission)
 * @param prefetches   experts copied ahead because the block before predicted them (with expert prefetching)
 * @param predicted    choices checked against a prediction (prompt chunks; decode tokens with expert prefetching)
 * @param predictedRight of those, choices the prediction contained
 * @param passes       device passes over a block's experts (more than one per block when a prompt chunk misses more
 *                     experts than there are free slots)
 * @param slots        expert slots in the GPU pool
 * @param cacheSlots   slots the cache may fill during one-token decode steps (during steps of several rows it holds
 *                     fewer, so that their misses find free slots: the reasoning says how many)
 * @param reasoning    the planner's decision, in words
 * @param routingWaitNanos host time spent waiting for sparse blocks' choices (the device's work and copies ahead of
 *                     them: the step's critical path when the host is quicker than the device)
 * @param placingNanos host time spent between a block's choices and its experts' launch, and on the copies ahead
 *                     (lookups, the cache, enqueueing copies and kernels: the critical path when it is not)
 */
public record ExpertCacheStats(long[] hits, long[] misses, long[] evictions, long[] rejections, long copies,
                               long bytesCopied, long cpuComputed, long prefetches, long predicted,
                               long predictedRight, long passes, int slots, int cacheSlots, String reasoning,
                               long routingWaitNanos, long placingNanos) {

    public long totalHits() {
        return sum(hits);
    }

    public long totalMisses() {
        return sum(misses);
    }

    public long totalEvictions() {
        return sum(evictions);
    }

    public long totalRejections() {
        return sum(rejections);
    }

    /** Share of predicted choices the prediction got right, 0 before any. */
    public double predictionHitRate() {
        return predicted == 0 ? 0 : (double) predictedRight / predicted;
    }

    /** Share of expert accesses served from the GPU, 0 before any. */
    public double hitRate() {
        long h = totalHits();
        long all = h + totalMisses();
        return all == 0 ? 0 : (double) h / all;
    }

    private static long sum(long[] v) {
        long n = 0;
        for (long x : v) {
            n += x;
        }
        return n;
    }
}

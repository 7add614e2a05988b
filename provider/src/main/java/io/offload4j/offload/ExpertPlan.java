package io.offload4j.offload;

import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.MoeConfig;
import io.offload4j.model.Weight;
import java.util.Locale;
import java.util.function.ToLongFunction;

/**
 * How a mixture of experts that does not fit the GPU is placed when its experts are units of their own: the blocks'
 * attention parts (with the router and any shared expert) and the head are planned first, as dense units are, within
 * the budget less a minimal expert pool; whatever the budget has left becomes expert slots (each the size of the
 * largest expert), of which all but a few may hold cached experts — the others take a block's misses. A one-token
 * decode step needs only {@link #decodeFreeSlots} free slots; a prompt chunk, which misses most of a block's experts,
 * wants {@link #freeSlots}, so the cache shrinks to {@link #chunkCacheSlots} for steps of several rows and grows back
 * to {@link #cacheSlots} for one-token steps ({@link ExpertTier#beginStep}).
 *
 * @param units      the units of the attention parts and head slices
 * @param plan       their placement
 * @param slots      expert slots in the GPU pool
 * @param cacheSlots slots the expert cache may fill during one-token decode steps
 * @param chunkCacheSlots slots it may fill during steps of several rows (prompt chunks, batches)
 * @param slotBytes  bytes of one slot
 * @param unitOf     expert id ({@code block × experts + e}) → index into {@link #experts}, -1 in a dense block
 * @param experts    each pooled expert's gate, up and down, by index
 * @param expertBytes each pooled expert's device bytes, by index
 * @param reasoning  the decision, in words, for the log
 */
record ExpertPlan(ModelUnits units, PlacementPlan plan, int slots, int cacheSlots, int chunkCacheSlots,
                  long slotBytes, int[] unitOf,
                  Weight[][] experts, long[] expertBytes, String reasoning) {

    /**
     * @param budget   GPU bytes for weights: resident attention parts and head, their staging ring, the expert pool
     * @param decodePrefetch a decode token's predicted experts are copied ahead too ({@link #freeSlots})
     */
    static ExpertPlan of(Model model, ToLongFunction<Weight[]> deviceBytes, long budget, int prefetchDepth,
                         Bandwidths bandwidths, boolean decodePrefetch) {
        MoeConfig moe = model.config().moe();
        int blocks = model.config().blockCount();
        int e = moe.expertCount();
        int k = moe.expertUsedCount();
        int[] unitOf = new int[blocks * e];
        java.util.Arrays.fill(unitOf, -1);
        int pooled = 0;
        long slotBytes = 0;
        for (int l = 0; l < blocks; l++) {
            BlockWeights b = model.weights().blocks().get(l);
            if (b.isSparse()) {
                for (int x = 0; x < e; x++) {
                    unitOf[l * e + x] = pooled++;
                }
                slotBytes = Math.max(slotBytes, deviceBytes.applyAsLong(b.moe().expert(0)));
            }
        }
        Weight[][] experts = new Weight[pooled][];
        long[] expertBytes = new long[pooled];
        for (int l = 0; l < blocks; l++) {
            BlockWeights b = model.weights().blocks().get(l);
            for (int x = 0; b.isSparse() && x < e; x++) {
                experts[unitOf[l * e + x]] = b.moe().expert(x);
                expertBytes[unitOf[l * e + x]] = deviceBytes.applyAsLong(experts[unitOf[l * e + x]]);
            }
        }
        ModelUnits units = ModelUnits.of(model.weights(), deviceBytes, true);
        int minSlots = 2 * k; // k for one token's misses, k for the cache
        long minPool = minSlots * slotBytes;
        if (budget <= minPool) {
            throw new IllegalArgumentException(String.format(Locale.ROOT, "GPU budget of %s is too small for expert"
                    + " placement: the expert pool needs at least %d slots of %s (2 × %d experts per token) = %s"
                    + " besides the attention parts; raise the GPU memory budget", PlacementPlanner.gib(budget),
                    minSlots, PlacementPlanner.gib(slotBytes), k, PlacementPlanner.gib(minPool)));
        }
        // the attention parts are computed on the GPU (a CPU unit would compute the whole block from host memory)
        PlacementPlan plan = PlacementPlanner.plan(new PlanRequest(units.names(), units.bytes(), budget - minPool,
                prefetchDepth, bandwidths, 1, PlacementPolicy.STREAM, false, units.blocks()));
        long left = budget - plan.gpuBytes();
        // at most every expert cached plus the free slots such a pool keeps
        int slots = (int) Math.min(pooled + (long) freeSlots(pooled + k, k, e, decodePrefetch), left / slotBytes);
        int free = freeSlots(slots, k, e, decodePrefetch);
        int cacheSlots = Math.min(pooled, slots - decodeFreeSlots(k, decodePrefetch));
        int chunkCacheSlots = Math.min(pooled, slots - free);
        double pcie = bandwidths.hostToDeviceGBs();
        String reasoning = String.format(Locale.ROOT, "experts placed one by one: %s; expert pool of %d slots of %s"
                        + " (%s) caching up to %d of %d experts (%.0f %%; %d during steps of several rows, which keep"
                        + " %d slots free for a block's misses);"
                        + " a miss is copied to the GPU (%s, ~%.0f µs at %.1f GB/s host→GPU) and admitted by"
                        + " W-TinyLFU", plan.reasoning(), slots, PlacementPlanner.gib(slotBytes),
                PlacementPlanner.gib(slots * slotBytes), cacheSlots, pooled, 100.0 * cacheSlots / pooled,
                chunkCacheSlots, free,
                PlacementPlanner.gib(slotBytes), pcie > 0 ? slotBytes / (pcie * 1e3) : 0, pcie);
        return new ExpertPlan(units, plan, slots, cacheSlots, chunkCacheSlots, slotBytes, unitOf, experts, expertBytes,
                reasoning);
    }

    /**
     * Slots kept out of the cache during a one-token step: k (its misses in one pass), 2k when a decode token's k
     * predicted experts also wait for the next block in slots of their own.
     */
    static int decodeFreeSlots(int k, boolean decodePrefetch) {
        return decodePrefetch ? 2 * k : k;
    }

    /**
     * Slots of a pool of {@code slots} kept out of the cache during a step of several rows: at least
     * {@link #decodeFreeSlots}, and an eighth of the pool up to two blocks' experts: a prompt chunk, which misses most
     * of a block's experts, then needs one pass (each pass waits for the copies of its misses), and its copies of the
     * next block's predicted experts go into slots this block's compute does not read, so that they overlap it
     * ({@link ExpertTier}). One-token steps give those slots back to the cache.
     */
    static int freeSlots(int slots, int k, int experts, boolean decodePrefetch) {
        return Math.max(decodeFreeSlots(k, decodePrefetch), Math.min(2 * experts, slots / 8));
    }
}

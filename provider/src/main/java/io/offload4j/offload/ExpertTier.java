package io.offload4j.offload;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.BoundUnit;
import io.offload4j.backend.CopyRing;
import io.offload4j.backend.Step;
import io.offload4j.backend.cpu.CpuExpertRunner;
import java.util.Arrays;

/**
 * The experts of a mixture of experts placed one by one (when the model does not fit the GPU): a pool of GPU expert
 * slots, an {@link ExpertCache} deciding which experts stay in them (W-TinyLFU admission), and per sparse block of a
 * step the host's part between the router and the experts: read the choices, look each chosen expert up, copy the
 * missing ones into free slots, and let the device compute every choice from its slot.
 *
 * <p><b>Slots.</b> The pool has {@code slots} slots. During a one-token step the cache may hold all but
 * {@link ExpertPlan#decodeFreeSlots} (k, or 2k with decode prefetch) of them, so at the start of a block at least k
 * slots are free — a decode token's k misses always fit one pass. A step of several rows (a prompt chunk, a batch, a
 * speculative verification) misses up to k experts per row and copies the next block's predicted ones ahead, so
 * before one the cache shrinks to {@code chunkCacheSlots} (evicting its least valuable experts;
 * {@link ExpertPlan#freeSlots} stay free), and the next one-token step lets it grow back: the slots such steps need
 * serve the cache while one sequence decodes. A step with more distinct
 * missing experts than free slots (a prompt chunk) computes the block in passes: the first pass computes the hits and
 * as many misses as there are free slots, each later pass the next misses (choices of other passes are sent as -1,
 * which the kernels skip). An expert evicted (or refused) while the block runs keeps its slot until the pass that
 * reads it has been enqueued; a copy into a slot waits (on the device) for the last compute that read it.
 *
 * <p><b>Counts.</b> Each step counts, per block, one access per (token, choice): the first use of an expert in a step
 * is a cache hit or miss, its later uses in the same step hits (the one copy serves them). So hits + misses =
 * k × tokens per sparse block.
 *
 * <p><b>Per-step cost.</b> The resident table is an array indexed by expert; Caffeine is consulted once per distinct
 * expert of a block and step (a hit feeds its frequency sketch: a lock-free read-buffer offer, tens of nanoseconds,
 * k per block at decode — well under 1 % of a step that reads the choices back over PCIe), and on a miss, which costs
 * a PCIe copy of the expert anyway, a put (Caffeine allocates its node there). Nothing else allocates.
 */
final class ExpertTier implements AutoCloseable {

    /**
     * Rows from which a step predicts the next block's experts and copies them ahead even with
     * {@code OffloadOptions.expertPrefetch} off: a prompt chunk's union of predicted experts is most of the next
     * block's cold experts (the grouped expert kernels start here too). On the lent H100 (Qwen3-30B-A3B-shaped Q4_K_M
     * at 8 and 4 GiB) this made 512-token prompts 1.18-1.34x faster. Decode tokens predict with the option (the
     * default): 1.44x at 4 GiB once their launches are recorded graphs, slower without graphs.
     */
    static final int PREFETCH_MIN_ROWS = 16;

    /** A pool slot, as the cache holds it (one object per slot, made at preparation). */
    record Slot(int index) {}

    private static final int UNSEEN = -2;
    /** A miss computed on the CPU in this step. */
    private static final int ON_CPU = -3;

    private final CopyRing pool;
    private final ExpertSlots slots;
    private final Slot[] slotKeys;       // the cache's value per slot (one object each, made here)
    private final ExpertCache<Slot> cache;
    private final int experts;
    private final int k;
    private final int[] unitOf;          // expert id (block × experts + e) → the pool's unit index, -1 for dense blocks
    private final long[] unitBytes;      // per pool unit
    // per step scratch, sized for the step's most rows
    private final int[] chosen;
    private final float[] weights;
    private final int[] sendSlots;
    private final int[] where;           // per expert of the block: its slot, or UNSEEN
    private final int[] pass;            // per expert of the block: the pass that computes it
    private final int[] misses;          // distinct missing experts of the block, in order of first use
    private final int cacheSlots;        // the cache's capacity in slots during one-token steps
    private final int chunkCacheSlots;   // and during steps of several rows
    private final long slotBudget;       // the cache's bytes per slot
    private int capacitySlots;           // its capacity now
    private final CpuExpertRunner cpu;    // null: every miss is copied and computed on the GPU
    private final float[] activation;     // one row, for the CPU's misses
    private final int[] cpuExperts;
    private final float[] cpuWeights;
    private long cpuComputed;
    private io.offload4j.backend.MoeRoutingListener listener = io.offload4j.backend.MoeRoutingListener.NONE;
    // prediction: the experts the block before predicted for a block, marked with that prediction's serial
    private final int[] predictedIds;
    private final long[] predictedMark;  // per expert id
    private final long[] predictionOf;   // per block: the serial of the prediction made for it, 0 = none
    private long predictionSerial;
    // prefetched experts of the next block, held outside the cache until that block uses them (or not)
    private final int[] stagedSlot;      // per expert of stagedBlock: its slot, or -1
    private final int[] stagedExperts;   // the experts staged, in order of staging
    private int stagedCount;
    private int stagedBlock = -1;
    private long runSerial;              // one run per block of a step
    private long prefetches;
    private long predicted;
    private long predictedRight;
    private long expertCopies;
    private long passes;
    private long routingWaitNanos;
    private long placingNanos;

    /**
     * @param pool      the device's expert pool: unit u is an expert, slot s at {@code s × slotBytes}
     * @param cacheSlots how many slots the cache may hold during one-token steps (the others stay free for a block's
     *                   misses)
     * @param chunkCacheSlots how many during steps of several rows (at most {@code cacheSlots})
     */
    ExpertTier(CopyRing pool, int blocks, int experts, int k, int[] unitOf, long[] unitBytes, int slotCount,
               int cacheSlots, int chunkCacheSlots, long slotBytes, int rows) {
        this(pool, blocks, experts, k, unitOf, unitBytes, slotCount, cacheSlots, chunkCacheSlots, slotBytes, rows,
                null, 0);
    }

    /**
     * @param cpu a decode token's misses computed on the CPU (and copied to the GPU for admission in the
     *            background), or null
     * @param dim the model's width (the activation row the CPU takes)
     */
    ExpertTier(CopyRing pool, int blocks, int experts, int k, int[] unitOf, long[] unitBytes, int slotCount,
               int cacheSlots, int chunkCacheSlots, long slotBytes, int rows, CpuExpertRunner cpu, int dim) {
        if (cacheSlots < 0 || slotCount - cacheSlots < k) {
            throw new IllegalArgumentException(slotCount + " expert slots, " + cacheSlots + " cached: " + k
                    + " must stay free");
        }
        if (chunkCacheSlots < 1 || chunkCacheSlots > cacheSlots) {
            throw new IllegalArgumentException(chunkCacheSlots + " experts cached during steps of several rows: between"
                    + " 1 and the " + cacheSlots + " cached during one-token steps");
        }
        this.pool = pool;
        this.slots = new ExpertSlots(pool, slotCount);
        this.cacheSlots = cacheSlots;
        this.chunkCacheSlots = chunkCacheSlots;
        this.capacitySlots = cacheSlots;
        this.experts = experts;
        this.k = k;
        this.unitOf = unitOf;
        this.unitBytes = unitBytes;
        this.slotKeys = new Slot[slotCount];
        for (int s = 0; s < slotCount; s++) {
            slotKeys[s] = new Slot(s);
        }
        long slotKib = (slotBytes + 1023) >>> 10;
        long[] bytes = new long[blocks * experts];
        Arrays.fill(bytes, slotKib << 10);
        // every expert weighs one slot: the cache holds at most capacitySlots of them
        this.slotBudget = slotKib << 10;
        this.cache = new ExpertCache<>(blocks, experts, bytes, cacheSlots * slotBudget, this::released);
        this.chosen = new int[rows * k];
        this.weights = new float[rows * k];
        this.sendSlots = new int[rows * k];
        this.where = new int[experts];
        this.pass = new int[experts];
        this.misses = new int[experts];
        this.cpu = cpu;
        this.activation = new float[Math.max(1, dim)];
        this.cpuExperts = new int[k];
        this.cpuWeights = new float[k];
        this.predictedIds = new int[rows * k];
        this.predictedMark = new long[blocks * experts];
        this.predictionOf = new long[blocks];
        this.stagedSlot = new int[experts];
        Arrays.fill(stagedSlot, -1);
        this.stagedExperts = new int[experts];
    }

    /**
     * Before a step's first block: a step of several rows shrinks the cache to {@code chunkCacheSlots} (as many free
     * slots as before there were two sizes: batches keep their passes), a one-token step lets it grow back to
     * {@code cacheSlots}. Slots of experts evicted here are free at once: nothing of this step reads them yet, and a
     * copy into a slot waits on the device for the last compute that read it.
     */
    void beginStep(int rows) {
        int want = rows == 1 ? cacheSlots : chunkCacheSlots;
        if (want == capacitySlots) {
            return;
        }
        capacitySlots = want;
        cache.capacity(want * slotBudget);
        slots.releasePending();
    }

    /** The cache's removal listener: the slot becomes free once the pass being prepared has been enqueued. */
    private void released(Slot s) {
        slots.release(s.index());
    }

    /**
     * Block {@code block}'s routed experts for {@code step}: after {@link AcceleratorModel#runSparseAttention} and
     * before {@link AcceleratorModel#runSharedExpert}. {@code predictedNext}: {@link AcceleratorModel#predictRouting}
     * was enqueued for block {@code block + 1} after this block's attention; its predicted experts are copied ahead
     * (those not on the GPU) once this block's own work is enqueued.
     */
    void run(AcceleratorModel device, BoundUnit bound, int block, Step step, boolean predictedNext) {
        int rows = step.rows();
        int n = rows * k;
        runSerial++;
        boolean staged = stagedBlock == block;
        long waitFrom = System.nanoTime();
        device.readRouting(rows, chosen, weights);
        long placeFrom = System.nanoTime();
        routingWaitNanos += placeFrom - waitFrom;
        listener.routed(block, rows, k, chosen);
        long prediction = predictionOf[block];
        if (prediction != 0) { // how good was the block before's guess?
            predictionOf[block] = 0;
            for (int i = 0; i < n; i++) {
                predicted++;
                predictedRight += predictedMark[block * experts + chosen[i]] == prediction ? 1 : 0;
            }
        }
        Arrays.fill(where, UNSEEN);
        int missCount = 0;
        int repeats = 0;
        for (int i = 0; i < n; i++) {
            int e = chosen[i];
            if (where[e] != UNSEEN) {
                repeats++;
                continue;
            }
            Slot s = cache.lookup(block, e);
            if (s != null) { // (admitted in the background after a CPU miss: the pass waits for its copy if need be)
                where[e] = s.index();
                pass[e] = 0;
            } else if (staged && stagedSlot[e] >= 0) {
                // a miss the block before prefetched: its copy is on the way (or landed); offered to the cache now
                int slot = stagedSlot[e];
                stagedSlot[e] = -1;
                where[e] = slot;
                pass[e] = 0;
                cache.offer(block, e, slotKeys[slot]); // may evict (or refuse it): released slots wait
            } else {
                where[e] = -1;
                misses[missCount++] = e;
            }
        }
        cache.recordHits(block, repeats);
        if (staged) {
            releaseStaged(); // the block's choices are known: what it did not choose was read by nothing
        }
        if (cpu != null && rows == 1 && missCount > 0) {
            missCount = computeMissesOnCpu(device, block, missCount);
        }
        int next = 0;
        int p = 0;
        do {
            // this pass: the hits (first pass only) and as many misses as there are free slots
            int take = Math.min(missCount - next, slots.freeCount());
            for (int j = 0; j < take; j++) {
                int e = misses[next + j];
                int slot = slots.take();
                copy(block, e, slot);
                expertCopies++;
                where[e] = slot;
                pass[e] = p;
                cache.offer(block, e, slotKeys[slot]); // may evict (or refuse it): released slots wait
            }
            next += take;
            for (int i = 0; i < n; i++) {
                int e = chosen[i];
                boolean here = where[e] >= 0 && pass[e] == p;
                sendSlots[i] = here ? where[e] : -1;
                if (here) {
                    slots.read(where[e], runSerial);
                }
            }
            slots.awaitCopiesRead();
            device.runPooledExperts(bound, step, sendSlots, weights);
            slots.passEnqueued();
            passes++;
            p++;
        } while (next < missCount);
        if (predictedNext) {
            prefetch(device, block + 1, rows);
        }
        placingNanos += System.nanoTime() - placeFrom;
    }

    /**
     * The staged experts the block did not choose go back to the free slots: nothing reads them, and a copy into one
     * follows the prefetch's copy on the copy stream.
     */
    private void releaseStaged() {
        for (int i = 0; i < stagedCount; i++) {
            int e = stagedExperts[i];
            int slot = stagedSlot[e];
            if (slot >= 0) {
                stagedSlot[e] = -1;
                slots.free(slot);
            }
        }
        stagedCount = 0;
        stagedBlock = -1;
    }

    /**
     * Copies the experts predicted for {@code block} that are not on the GPU into free slots, on the copy stream
     * (after this block's own copies), and holds them for that block outside the cache: the block offers each one it
     * chooses to the cache as it uses it, and frees the others. A decode token predicts k experts; a prompt chunk or a
     * batch predicts every row's, whose union is most of the next block's cold experts, so its copies run while this
     * block computes instead of after the next block's router. At least k slots stay free (a pass always takes one).
     * Slots this block's passes read come last: a copy into one waits for this block's compute, and the copy stream
     * runs its copies in order, so every copy behind such a one would wait too.
     */
    private void prefetch(AcceleratorModel device, int block, int rows) {
        device.readPredicted(rows, predictedIds);
        long serial = ++predictionSerial;
        predictionOf[block] = serial;
        if (stagedBlock >= 0) { // staged for a block that never ran: a step failed in between
            releaseStaged();
        }
        stagedBlock = block;
        stagedCount = 0;
        int want = 0;
        for (int i = 0; i < rows * k; i++) {
            int e = predictedIds[i];
            int id = block * experts + e;
            if (predictedMark[id] == serial) {
                continue;
            }
            predictedMark[id] = serial;
            if (!cache.contains(block, e)) {
                misses[want++] = e; // scratch: this block's misses were all enqueued
            }
        }
        int take = Math.max(0, Math.min(want, slots.freeCount() - k));
        slots.preferUnreadBy(runSerial, take); // slots this block read come last (see above)
        for (int j = 0; j < take; j++) {
            int e = misses[j];
            int slot = slots.take();
            copy(block, e, slot);
            prefetches++;
            stagedSlot[e] = slot;
            stagedExperts[stagedCount++] = e;
        }
        slots.releasePending(); // this block's passes are enqueued: nothing reads a released slot any more
    }

    /** Copies block {@code block}'s expert {@code e} into {@code slot} on the copy stream. */
    private void copy(int block, int e, int slot) {
        int unit = unitOf[block * experts + e];
        slots.copy(unit, slot, unitBytes[unit]);
    }

    /** Between steps: every slot is free or holds a cached expert; nothing is staged or waiting to be released. */
    boolean idle() {
        return stagedBlock < 0 && slots.settled() && slots.freeCount() + cache.residentCount() == slots.count();
    }

    /** How many experts the cache holds now. */
    int cachedExperts() {
        return cache.residentCount();
    }

    /** Who is told each sparse block's choices, as they come back from the device. */
    void routingListener(io.offload4j.backend.MoeRoutingListener l) {
        listener = l == null ? io.offload4j.backend.MoeRoutingListener.NONE : l;
    }

    /** Whether block {@code block}'s routed experts are in the pool (it is sparse). */
    boolean pooled(int block) {
        return unitOf[block * experts] >= 0;
    }

    /** The counters so far, with the planner's reasoning. */
    ExpertCacheStats snapshot(String reasoning) {
        ExpertCache.Stats s = cache.stats();
        return new ExpertCacheStats(s.hits(), s.misses(), s.evictions(), s.rejections(), expertCopies,
                slots.bytesCopied(), cpuComputed, prefetches, predicted, predictedRight, passes, slots.count(),
                cacheSlots, reasoning,
                routingWaitNanos, placingNanos);
    }

    CopyRing pool() {
        return pool;
    }

    /**
     * A decode token's misses from host memory: the activation row comes down, the CPU adds the missing experts'
     * weighted outputs, the row goes back; the GPU then computes the hits only. Each missing expert is still copied
     * into a free slot on the copy stream (nothing waits for it) and offered to the cache, so that admission sees
     * the traffic and a hot expert becomes a hit. Returns the misses left to the GPU: none.
     */
    private int computeMissesOnCpu(AcceleratorModel device, int block, int missCount) {
        int c = 0;
        for (int i = 0; i < k; i++) {
            int e = chosen[i];
            if (where[e] == -1) {
                where[e] = ON_CPU;
                cpuExperts[c] = e;
                cpuWeights[c] = weights[i];
                c++;
            }
        }
        device.activationToHost(activation, 1);
        cpu.addExperts(block, activation, cpuExperts, cpuWeights, c);
        device.activationFromHost(activation, 1);
        cpuComputed += c;
        for (int j = 0; j < missCount && slots.freeCount() > 0; j++) {
            int e = misses[j];
            int slot = slots.take();
            copy(block, e, slot);
            expertCopies++;
            cache.offer(block, e, slotKeys[slot]);
        }
        return 0; // slots evicted or refused meanwhile stay pending until the hits' pass has been enqueued

    }

    long cpuComputed() {
        return cpuComputed;
    }

    /** While on (a decode step), the CPU's threads spin between blocks instead of parking. */
    void keepCpuSpinning(boolean on) {
        if (cpu != null) {
            cpu.keepThreadsSpinning(on);
        }
    }

    ExpertCache.Stats stats() {
        return cache.stats();
    }

    long bytesCopied() {
        return slots.bytesCopied();
    }

    long expertCopies() {
        return expertCopies;
    }

    long passes() {
        return passes;
    }

    int slotCount() {
        return slots.count();
    }

    long poolBytes() {
        return pool.slotBytes();
    }

    long hostPinnedBytes() {
        return pool.pinnedBytes();
    }

    /**
     * After a failed step: the copies in flight land before anything else uses the pool, and the slots the step held
     * (staged for a block that did not run, released by the cache while a pass was being prepared) are free again.
     */
    void reset() {
        slots.reset();
        if (stagedBlock >= 0) {
            releaseStaged();
        }
    }

    @Override
    public void close() {
        cache.close();
        pool.close();
        if (cpu != null) {
            cpu.close();
        }
    }
}

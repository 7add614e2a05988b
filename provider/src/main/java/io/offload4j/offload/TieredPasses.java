package io.offload4j.offload;

import io.offload4j.backend.Accelerator;
import io.offload4j.backend.AcceleratorGroup;
import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.backend.Backend;
import io.offload4j.backend.BoundUnit;
import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceMemoryException;
import io.offload4j.backend.DeviceWeights;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.backend.cpu.CpuBlockRunner;
import io.offload4j.backend.cpu.CpuExpertRunner;
import io.offload4j.model.Model;
import java.util.Locale;

/**
 * Prepares a model's forward pass on a device: on the CPU, the CPU's own pass (every weight stays in the file
 * mapping); on an accelerator, a {@link TieredForwardPass}: the model cut into {@link ModelUnits}, a weight budget
 * ({@link WeightBudget}), bandwidths measured when the model does not fit ({@link BandwidthProbe}), a placement from
 * the {@link PlacementPlanner}, the resident units uploaded into a {@link ResidentBlockCache}, the streamed ones
 * pinned and given a {@link CopyRing}, and every unit bound once per {@link StepRoute} to the memory it computes from.
 */
public final class TieredPasses {

    private static final System.Logger LOG = System.getLogger("io.offload4j.offload");

    private TieredPasses() {}

    /**
     * @param maxContext the longest sequence a KV cache holds
     * @param maxChunk   the most prompt tokens one forward call takes
     */
    public static ForwardPass prepare(Backend backend, Model model, int maxContext, int maxChunk,
                                      OffloadOptions options) {
        if (maxContext < 1 || maxChunk < 1) {
            throw new IllegalArgumentException("maxContext and maxChunk must be positive");
        }
        if (backend instanceof CpuBackend cpu) {
            return cpu.prepare(model, maxContext, maxChunk);
        }
        if (backend instanceof Accelerator accelerator) {
            return prepareWithin(accelerator, model, maxContext, maxChunk, options);
        }
        if (backend instanceof AcceleratorGroup group) {
            return preparePipeline(group, model, maxContext, maxChunk, options);
        }
        throw new IllegalArgumentException("no forward pass for " + backend.description());
    }

    /** Tries an automatic budget this many times, each time smaller, when the device runs out of memory at load. */
    static final int AUTO_BUDGET_ATTEMPTS = 3;
    /** Each retry keeps this share of the budget that did not fit. */
    static final double AUTO_BUDGET_SHRINK = 0.8;

    /**
     * An automatic budget is what the device reports free minus a margin; other processes (or fragmentation) can make
     * less available by the time the units are uploaded. Then the whole preparation is undone and tried again with a
     * smaller budget, so that more units stream. An explicit budget that does not fit is the user's error, reported.
     */
    private static TieredForwardPass prepareWithin(Accelerator accelerator, Model model, int maxContext, int maxChunk,
                                                   OffloadOptions options) {
        AcceleratorOptions deviceOptions = new AcceleratorOptions(maxContext, maxChunk, options.maxBatchRows(),
                options.gemmMinTokens(), options.graphs());
        long free = accelerator.freeMemory();
        long workspace = accelerator.workspaceBytes(model, deviceOptions);
        long kvPerCache = accelerator.kvCacheBytes(model, maxContext);
        long budget = WeightBudget.of(options, accelerator.name(), free, workspace, kvPerCache);
        for (int attempt = 1; ; attempt++) {
            try {
                return prepare(accelerator, model, deviceOptions, options, new Memory(free, kvPerCache, budget), null);
            } catch (DeviceMemoryException e) {
                if (options.gpuMemoryBudget() != OffloadOptions.AUTO || attempt >= AUTO_BUDGET_ATTEMPTS) {
                    throw e;
                }
                // what is free now (after undoing this attempt), and in any case less than the budget that failed
                free = accelerator.freeMemory();
                budget = Math.min((long) (budget * AUTO_BUDGET_SHRINK),
                        WeightBudget.of(options, accelerator.name(), free, workspace, kvPerCache));
                LOG.log(System.Logger.Level.WARNING, "placement on " + accelerator.name() + ": " + e.getMessage()
                        + "; trying again with a GPU budget of " + WeightBudget.gib(budget));
            }
        }
    }

    /** What the budget was set from: free device memory at load, one full-context KV cache, the weight budget. */
    private record Memory(long free, long kvPerCache, long budget) {}

    /**
     * A model split over the accelerators of a group, in pipeline order: each gets a run of consecutive blocks in
     * proportion to its weight budget ({@link PipelineSplit}), the last one also the head; each stage is prepared as a
     * tiered pass of its own (its resident units, its own staging ring for what does not fit it, no CPU blocks). An
     * explicit GPU budget applies to each GPU. Where a GPU appears more than once, each entry budgets with its share.
     */
    private static ForwardPass preparePipeline(AcceleratorGroup group, Model model, int maxContext, int maxChunk,
                                               OffloadOptions options) {
        AcceleratorOptions deviceOptions = new AcceleratorOptions(maxContext, maxChunk, options.maxBatchRows(),
                options.gemmMinTokens(), false);
        int n = group.members().size();
        int blocks = model.config().blockCount();
        long[] free = new long[n];
        long[] workspace = new long[n];
        long[] kvWhole = new long[n];
        long[] budgets = new long[n];
        for (int i = 0; i < n; i++) {
            Accelerator a = group.members().get(i);
            free[i] = (long) (a.freeMemory() * group.memoryShare(i));
            workspace[i] = a.workspaceBytes(model, deviceOptions);
            kvWhole[i] = a.kvCacheBytes(model, maxContext);
            // before the split, each stage's KV cache is taken as its even share of the blocks
            budgets[i] = Math.max(1, WeightBudget.of(options, a.name(), free[i], workspace[i], kvWhole[i] / n));
        }
        ModelUnits all = ModelUnits.of(model.weights(), w -> java.util.Arrays.stream(w)
                .mapToLong(x -> x.data().byteSize()).sum());
        long head = 0;
        for (int u = all.blocks(); u < all.count(); u++) {
            head += all.bytes()[u];
        }
        int[] starts = PipelineSplit.split(java.util.Arrays.copyOf(all.bytes(), blocks), head, budgets);
        TieredForwardPass[] stages = new TieredForwardPass[n];
        try {
            for (int i = 0; i < n; i++) {
                Accelerator a = group.members().get(i);
                int first = starts[i];
                int end = starts[i + 1];
                AcceleratorOptions stageOptions = deviceOptions.withBlocks(first, end);
                long kv = kvWhole[i] * (end - first) / blocks;
                long budget = WeightBudget.of(options, a.name(), free[i], workspace[i], kv);
                Stage stage = new Stage(i, n, first, end);
                LOG.log(System.Logger.Level.INFO, "pipeline: " + a.name() + " computes " + stage);
                stages[i] = prepare(a, model, stageOptions, options, new Memory(free[i], kv, budget), stage);
            }
            return new PipelineForwardPass(stages, starts);
        } catch (RuntimeException | Error e) {
            for (TieredForwardPass s : stages) {
                if (s != null) {
                    s.close();
                }
            }
            throw e;
        }
    }

    /** Stage {@code index} of {@code count} of a pipeline: blocks {@code first .. end-1}, the head if last. */
    record Stage(int index, int count, int first, int end) {
        boolean last() {
            return index == count - 1;
        }

        @Override
        public String toString() {
            return "stage " + (index + 1) + "/" + count + ": blocks " + first + ".." + (end - 1)
                    + (last() ? " and the output head" : "");
        }
    }

    /** {@code stage}: null for a model on one accelerator. */
    private static TieredForwardPass prepare(Accelerator accelerator, Model model, AcceleratorOptions deviceOptions,
                                             OffloadOptions options, Memory memory, Stage stage) {
        int maxContext = deviceOptions.maxContext();
        int maxChunk = deviceOptions.maxChunk();
        long free = memory.free();
        long kvPerCache = memory.kvPerCache();
        AcceleratorModel device = accelerator.load(model, deviceOptions);
        StreamingTier tier = null;
        CpuBlockRunner cpu = null;
        try {
            ModelUnits whole = ModelUnits.of(model.weights(), device::unitBytes);
            ModelUnits units = stage == null ? whole : whole.stage(stage.first(), stage.end(), stage.last());
            int firstBlock = stage == null ? 0 : stage.first();
            long budget = memory.budget();
            if (options.expertCache() && stage == null && model.config().moe() != null
                    && whole.totalBytes() > budget) {
                return prepareExperts(accelerator, device, model, deviceOptions, options, memory);
            }
            // a pipeline's stages hand the activation between accelerators only: no CPU blocks in between
            boolean cpuPossible = stage == null && options.placement() != PlacementPolicy.STREAM;
            Bandwidths bandwidths = BandwidthProbe.measure(accelerator, model, units, budget, cpuPossible);
            PlacementPolicy policy = cpuPossible || options.placement() == PlacementPolicy.STREAM
                    ? options.placement() : PlacementPolicy.STREAM;
            PlacementPlan plan = PlacementPlanner.plan(new PlanRequest(units.names(), units.bytes(), budget,
                    options.prefetchDepth(), bandwidths, 1, policy, cpuPossible, units.blocks()));
            LOG.log(System.Logger.Level.INFO, "placement on " + accelerator.name() + ": " + plan.reasoning());
            long pinnedBudget = options.hostPinnedMemoryBudget() == OffloadOptions.AUTO
                    ? Math.min(plan.streamedBytesPerStep() + plan.cpuBytesPerStep(), HostMemory.physicalBytes() / 2)
                    : options.hostPinnedMemoryBudget();
            tier = placeUnits(device, units, plan, pinnedBudget);
            BoundUnit[][] bound = bind(device, units, tier, firstBlock);
            int cpuCount = plan.count(Placement.CPU);
            if (cpuCount > 0) {
                boolean[] cpuBlocks = new boolean[units.blocks()];
                for (int l = 0; l < cpuBlocks.length; l++) {
                    cpuBlocks[l] = plan.placement(l) == Placement.CPU;
                }
                cpu = new CpuBlockRunner(model, maxContext, cpuBlocks, 0);
            }
            String report = MemoryReport.of(accelerator.name() + (stage == null ? "" : ", " + stage), free, plan, tier,
                    device.workspaceBytes(), kvPerCache, model.weights().tokenEmbedding().data().byteSize(),
                    bandwidths);
            LOG.log(System.Logger.Level.INFO, report);
            return new TieredForwardPass(device, cpu, tier, bound, units.blocks(), maxContext, maxChunk,
                    deviceOptions.rows(), report, stage);
        } catch (RuntimeException | Error e) {
            if (cpu != null) {
                cpu.close();
            }
            if (tier != null) {
                tier.close();
            }
            device.close();
            throw e;
        }
    }

    /**
     * A mixture of experts larger than its budget, its experts placed one by one ({@link ExpertPlan}): the attention
     * parts and head placed (resident, or streamed through a ring) like dense units, the experts pinned in host memory
     * and cached in a pool of GPU expert slots ({@link ExpertTier}). No CPU units: the CPU would compute whole blocks.
     */
    private static TieredForwardPass prepareExperts(Accelerator accelerator, AcceleratorModel device, Model model,
                                                    AcceleratorOptions deviceOptions, OffloadOptions options,
                                                    Memory memory) {
        ModelUnits attention = ModelUnits.of(model.weights(), device::unitBytes, true);
        Bandwidths bandwidths = BandwidthProbe.measure(accelerator, model, attention, 0, false);
        ExpertPlan ep = ExpertPlan.of(model, device::unitBytes, memory.budget(), options.prefetchDepth(), bandwidths,
                options.expertPrefetch());
        LOG.log(System.Logger.Level.INFO, "placement on " + accelerator.name() + ": " + ep.reasoning());
        PlacementPlan plan = ep.plan();
        long physicalHalf = HostMemory.physicalBytes() / 2;
        long streamedAttention = plan.streamedBytesPerStep();
        long pinnedBudget = options.hostPinnedMemoryBudget() == OffloadOptions.AUTO
                ? physicalHalf : options.hostPinnedMemoryBudget();
        StreamingTier tier = placeUnits(device, ep.units(), plan, Math.min(streamedAttention, pinnedBudget));
        CopyRing pool = null;
        try {
            boolean[] pinned = new boolean[ep.experts().length];
            long left = pinnedBudget - tier.hostPinnedBytes();
            for (int u = 0; u < pinned.length && ep.expertBytes()[u] <= left; u++) {
                pinned[u] = true;
                left -= ep.expertBytes()[u];
            }
            pool = device.expertPool(ep.experts(), pinned, ep.slots(), ep.slotBytes());
            var moe = model.config().moe();
            CpuExpertRunner cpuExperts = cpuExperts(model);
            ExpertCpuProbe.Decision cpuMisses;
            try {
                cpuMisses = ExpertCpuProbe.decide(model, cpuExperts, bandwidths.hostToDeviceGBs(),
                        options.placement());
            } catch (RuntimeException | Error e) {
                cpuExperts.close();
                throw e;
            }
            LOG.log(System.Logger.Level.INFO, "expert misses on " + accelerator.name() + ": " + cpuMisses.reasoning());
            if (!cpuMisses.cpu()) {
                cpuExperts.close();
                cpuExperts = null;
            }
            ExpertTier experts;
            try {
                experts = new ExpertTier(pool, model.config().blockCount(), moe.expertCount(),
                        moe.expertUsedCount(), ep.unitOf(), ep.expertBytes(), ep.slots(), ep.cacheSlots(),
                        ep.chunkCacheSlots(), ep.slotBytes(), deviceOptions.rows(), cpuExperts, model.config().embeddingLength());
            } catch (RuntimeException | Error e) {
                if (cpuExperts != null) {
                    cpuExperts.close();
                }
                throw e;
            }
            pool = null; // owned by the expert tier from here
            try {
                BoundUnit[][] bound = bind(device, ep.units(), tier, 0, model, experts);
                String report = MemoryReport.of(accelerator.name(), memory.free(), plan, tier, device.workspaceBytes(),
                        memory.kvPerCache(), model.weights().tokenEmbedding().data().byteSize(), bandwidths)
                        + String.format(Locale.ROOT, "%n  GPU   expert pool %s (%d slots, up to %d cached experts, %d during steps of several rows)"
                        + "%n  host  pinned experts %s", WeightBudget.gib(experts.poolBytes()), experts.slotCount(),
                        ep.cacheSlots(), ep.chunkCacheSlots(), WeightBudget.gib(experts.hostPinnedBytes()));
                LOG.log(System.Logger.Level.INFO, report);
                return new TieredForwardPass(device, null, tier, bound, ep.units().blocks(),
                        deviceOptions.maxContext(), deviceOptions.maxChunk(), deviceOptions.rows(), report, null,
                        experts, ep.reasoning() + "; " + cpuMisses.reasoning() + "; prompt chunks copy the experts"
                        + " the next block's router predicts ahead" + (options.expertPrefetch() ? ", decode steps too" : ""),
                        options.expertPrefetch());
            } catch (RuntimeException | Error e) {
                experts.close();
                throw e;
            }
        } catch (RuntimeException | Error e) {
            if (pool != null) {
                pool.close();
            }
            tier.close();
            throw e;
        }
    }

    /** The CPU side of expert misses: every sparse block's experts and FFN norm, all cores. */
    private static CpuExpertRunner cpuExperts(Model model) {
        int n = model.config().blockCount();
        io.offload4j.model.MoeWeights[] moe = new io.offload4j.model.MoeWeights[n];
        float[][] norms = new float[n][];
        for (int l = 0; l < n; l++) {
            moe[l] = model.weights().blocks().get(l).moe();
            norms[l] = model.weights().blocks().get(l).ffnNorm();
        }
        return new CpuExpertRunner(moe, norms, model.config().embeddingLength(),
                model.config().moe().expertUsedCount(), model.config().rmsNormEps(),
                Runtime.getRuntime().availableProcessors());
    }

    /**
     * Resident units uploaded (held by the cache, whose removal listener frees them); streamed units pinned in host
     * memory up to {@code pinnedBudget}, those streamed at every step first (they gain most from it), and a ring of
     * the plan's staging slots.
     */
    private static StreamingTier placeUnits(AcceleratorModel device, ModelUnits units, PlacementPlan plan,
                                            long pinnedBudget) {
        int n = units.count();
        // the cache weighs in whole KiB (rounded up per unit): 2 KiB of slack per unit keeps the pinned set within it
        ResidentBlockCache<DeviceWeights> resident = new ResidentBlockCache<>(n,
                Math.max(1, plan.residentBytes() + n * 2048L), DeviceWeights::bytes, DeviceWeights::free);
        CopyRing ring = null;
        try {
            for (int u = 0; u < n; u++) {
                if (plan.placement(u) == Placement.RESIDENT) {
                    resident.put(u, device.upload(units.parts()[u]));
                }
            }
            StreamSchedule widest = StreamingTier.widest(plan);
            if (widest.streamedCount() > 0) {
                boolean[] streamed = new boolean[n];
                boolean[] pinned = new boolean[n];
                long pinnedSoFar = 0;
                for (boolean cpuUnitsStream : new boolean[] {false, true}) {
                    StreamSchedule s = new StreamSchedule(plan, cpuUnitsStream);
                    for (int j = 0; j < s.streamedCount(); j++) {
                        int u = s.unitOf(j);
                        streamed[u] = true;
                        if (!pinned[u] && pinnedSoFar + units.bytes()[u] <= pinnedBudget) {
                            pinned[u] = true;
                            pinnedSoFar += units.bytes()[u];
                        }
                    }
                }
                ring = device.copyRing(units.parts(), streamed, pinned, widest.slots(), plan.slotBytes(),
                        2 * widest.streamedCount());
            }
            return new StreamingTier(plan, resident, ring, units.bytes());
        } catch (RuntimeException | Error e) {
            if (ring != null) {
                ring.close();
            }
            resident.close();
            throw e;
        }
    }

    /** Every unit bound, per route, to the memory it computes from (null where the CPU computes it). */
    private static BoundUnit[][] bind(AcceleratorModel device, ModelUnits units, StreamingTier tier, int firstBlock) {
        return bind(device, units, tier, firstBlock, null, null);
    }

    /** {@code experts} not null: sparse blocks are bound to their attention part and the expert pool. */
    private static BoundUnit[][] bind(AcceleratorModel device, ModelUnits units, StreamingTier tier, int firstBlock,
                                      Model model, ExpertTier experts) {
        StepRoute[] routes = StepRoute.values();
        BoundUnit[][] bound = new BoundUnit[routes.length][units.count()];
        for (StepRoute r : routes) {
            for (int u = 0; u < units.count(); u++) {
                DeviceWeights at = tier.weightsOf(u, r);
                if (at == null) {
                    continue;
                }
                if (experts != null && u < units.blocks() && model.weights().blocks().get(firstBlock + u).isSparse()) {
                    bound[r.ordinal()][u] = device.bindPooledBlock(firstBlock + u, at, experts.pool());
                    continue;
                }
                bound[r.ordinal()][u] = u < units.blocks() ? device.bindBlock(firstBlock + u, at)
                        : device.bindHeadSlice(units.firstRows()[u], units.parts()[u][0], at, units.wholeHead());
            }
        }
        return bound;
    }

    /** The memory breakdown logged at load and shown by health endpoints. */
    static final class MemoryReport {
        private MemoryReport() {}

        static String of(String device, long freeAtStart, PlacementPlan plan, StreamingTier tier, long workspace,
                         long kvPerCache, long embeddingBytes, Bandwidths bw) {
            StringBuilder r = new StringBuilder(String.format(Locale.ROOT, "memory on %s (%s free at load):%n",
                    device, WeightBudget.gib(freeAtStart)));
            r.append(String.format(Locale.ROOT, "  GPU   resident weights %s (%d of %d units)%n",
                    WeightBudget.gib(plan.residentBytes()), plan.count(Placement.RESIDENT), plan.placements().length));
            r.append(String.format(Locale.ROOT, "  GPU   staging ring %s (%d slots)%n",
                    WeightBudget.gib(tier.stagingBytes()), plan.stagingSlots()));
            r.append(String.format(Locale.ROOT, "  GPU   activations, norms and scratch %s%n",
                    WeightBudget.gib(workspace)));
            r.append(String.format(Locale.ROOT, "  GPU   KV cache %s per full-context sequence (allocated per request)%n",
                    WeightBudget.gib(kvPerCache)));
            r.append(String.format(Locale.ROOT, "  host  pinned streamed weights %s of %s streamed per prompt step%n",
                    WeightBudget.gib(tier.hostPinnedBytes()),
                    WeightBudget.gib(tier.bytesPerStep(StepRoute.ALL_ACCELERATOR))));
            if (plan.count(Placement.CPU) > 0) {
                r.append(String.format(Locale.ROOT, "  host  CPU-computed blocks %s (%d units, at batch-1 decode;"
                        + " streamed for prompts and batches)%n", WeightBudget.gib(plan.cpuBytesPerStep()),
                        plan.count(Placement.CPU)));
            }
            r.append(String.format(Locale.ROOT, "  host  token embeddings %s (file mapping, looked up on the CPU)",
                    WeightBudget.gib(embeddingBytes)));
            if (!plan.allResident()) {
                r.append(String.format(Locale.ROOT, "%n  measured: host→GPU %.1f GB/s pinned, CPU weights ~%.1f GB/s",
                        bw.hostToDeviceGBs(), bw.cpuWeightGBs()));
            }
            return r.toString();
        }
    }
}

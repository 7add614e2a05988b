package io.offload4j.offload;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.BoundUnit;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.Phase;
import io.offload4j.backend.Step;
import io.offload4j.backend.cpu.CpuBlockRunner;
import io.offload4j.model.ModelConfig;

/**
 * The forward pass of a model placed across tiers: units resident on the accelerator, units streamed into it for
 * every step, and (at batch-1 decode) units the CPU computes from host memory. Its per-step loop is the one of the
 * architecture: for each unit in order, {@code acquire} (resident, or wait for the copy the ring started earlier,
 * issuing the copies due by now), run it on the device the plan names, {@code release} its slot. Prepared by
 * {@link TieredPasses}; a model that fits is simply all resident, and its decode steps replay a graph.
 *
 * <p>Neither device knows of the other: this pass hands the activation and the CPU blocks' keys and values between
 * them ({@link KvHandOff}). Nothing on the per-step path allocates, logs or looks anything up in a map.
 */
public final class TieredForwardPass implements ForwardPass {

    private final AcceleratorModel accelerator;
    private final CpuBlockRunner cpu;            // null when the plan has no CPU units
    private final KvHandOff handOff;             // null likewise
    private final StreamingTier tier;
    private final BoundUnit[][] bound;           // [route][unit]; null where the CPU computes the unit
    private final int blocks;
    private final int maxContext;
    private final int maxChunk;
    private final int rows;
    private boolean graphs;
    private final String memoryReport;
    private final String expertReasoning;
    private final Step step;
    private final float[] activation;
    private final KvCache[] acceleratorCaches;   // per sequence of a step, for the hand-off
    private final Runnable residentDecode = () -> enqueue(StepRoute.ALL_ACCELERATOR, null);
    // a pipeline stage (see PipelineForwardPass): the activation rows it starts from (null for the first stage, which
    // starts from the token embeddings) and where it leaves its own (null for the last, which computes the logits)
    private final boolean computesHead;
    private float[] stageInput;
    private float[] stageOutput;
    private AcceleratorModel stageSource;  // the previous stage's device, when this one copies from it directly
    private final ExpertTier experts;            // null unless the experts are placed one by one
    private final boolean[] pooled;              // per block: its routed experts come from the expert pool
    private final boolean[] predictable;         // per block: it can predict the next block's experts (prefetch)
    private final boolean decodePrefetch;        // predict at decode steps and small batches too
    private final boolean[] residentPooled;      // per block: pooled, its attention part resident (decode graphs)
    private final HybridRoutes hybridRoutes = new HybridRoutes(); // a verification's route, by its rows
    private long cpuNanos;                       // time computing CPU blocks
    private long cpuWaitNanos;                   // time waiting for the accelerator before them
    private boolean closed;

    TieredForwardPass(AcceleratorModel accelerator, CpuBlockRunner cpu, StreamingTier tier, BoundUnit[][] bound,
                      int blocks, int maxContext, int maxChunk, int rows, String memoryReport,
                      TieredPasses.Stage stage) {
        this(accelerator, cpu, tier, bound, blocks, maxContext, maxChunk, rows, memoryReport, stage, null, null);
    }

    /** {@code experts}: the expert tier of a mixture of experts whose experts are placed one by one, or null. */
    TieredForwardPass(AcceleratorModel accelerator, CpuBlockRunner cpu, StreamingTier tier, BoundUnit[][] bound,
                      int blocks, int maxContext, int maxChunk, int rows, String memoryReport,
                      TieredPasses.Stage stage, ExpertTier experts, String expertReasoning) {
        this(accelerator, cpu, tier, bound, blocks, maxContext, maxChunk, rows, memoryReport, stage, experts,
                expertReasoning, false);
    }

    /**
     * A pooled block whose successor is pooled and resident applies the successor's router to its own FFN input in a
     * prompt chunk of at least {@link ExpertTier#PREFETCH_MIN_ROWS} rows, and the predicted experts are copied ahead;
     * with {@code decodePrefetch} in every step.
     */
    TieredForwardPass(AcceleratorModel accelerator, CpuBlockRunner cpu, StreamingTier tier, BoundUnit[][] bound,
                      int blocks, int maxContext, int maxChunk, int rows, String memoryReport,
                      TieredPasses.Stage stage, ExpertTier experts, String expertReasoning,
                      boolean decodePrefetch) {
        this.accelerator = accelerator;
        this.experts = experts;
        this.pooled = new boolean[blocks];
        for (int l = 0; experts != null && l < blocks; l++) {
            pooled[l] = experts.pooled(l);
        }
        this.predictable = new boolean[blocks];
        this.decodePrefetch = decodePrefetch;
        this.residentPooled = new boolean[blocks];
        for (int l = 0; experts != null && l < blocks; l++) {
            residentPooled[l] = pooled[l] && tier.plan().placement(l) == Placement.RESIDENT;
        }
        for (int l = 0; experts != null && l + 1 < blocks; l++) {
            predictable[l] = pooled[l] && pooled[l + 1] && tier.plan().placement(l + 1) == Placement.RESIDENT;
        }
        this.expertReasoning = expertReasoning;
        this.cpu = cpu;
        this.tier = tier;
        this.bound = bound;
        this.blocks = blocks;
        this.maxContext = maxContext;
        this.maxChunk = maxChunk;
        this.rows = rows;
        this.computesHead = stage == null || stage.last();
        // a block whose experts are pooled reads its router's choices back to the host: no graph can span that
        this.graphs = !tier.streams() && experts == null && accelerator.graphs();
        this.memoryReport = memoryReport;
        this.step = new Step(rows);
        this.acceleratorCaches = new KvCache[rows];
        this.activation = new float[CpuBlockRunner.MAX_ROWS * accelerator.config().embeddingLength()];
        int[] cpuBlocks = java.util.stream.IntStream.range(0, blocks).filter(u -> bound[0][u] == null).toArray();
        this.handOff = cpu == null ? null : new KvHandOff(accelerator, cpu, cpuBlocks, rows);
    }

    // ------------------------------------------------------------------ the step loop

    /**
     * Every unit of the step in {@link #step}, enqueued on the accelerator in order, the CPU's blocks run in between
     * (route HYBRID), then the logits' copy to the host. {@code cache}: the sequence of a HYBRID step.
     */
    private void enqueue(StepRoute route, TieredKvCache cache) {
        BoundUnit[] units = bound[route.ordinal()];
        accelerator.beginStep(step);
        if (stageSource != null) {
            accelerator.activationFrom(stageSource, step.rows());
        } else if (stageInput != null) {
            accelerator.activationFromHost(stageInput, step.rows());
        }
        tier.beginStep(route);
        if (experts != null) {
            experts.beginStep(step.rows()); // several rows free slots for their misses, one-token steps give them back
        }
        for (int u = 0; u < blocks; u++) {
            BoundUnit unit = units[u];
            if (unit == null) {
                tier.cpuUnit(u);
                cpuBlock(u, cache);
                continue;
            }
            tier.acquire(u);
            if (pooled[u]) {
                // attention and router on the device, the choices to the host, each expert from its pool slot; a
                // decode token's resident attention part as one recorded graph per (sequence, block)
                // a prompt chunk's union of its rows' predicted experts (most of the next block's cold experts) is
                // copied while this block computes; a decode token's k with expertPrefetch (the default)
                boolean predict = predictable[u]
                        && (step.rows() >= ExpertTier.PREFETCH_MIN_ROWS || decodePrefetch);
                if (residentPooled[u] && step.phase() == Phase.DECODE) {
                    accelerator.runSparseAttentionAsGraph(step.cache(0), unit, predict ? units[u + 1] : null, step);
                } else {
                    accelerator.runSparseAttention(unit, step);
                    if (predict) {
                        accelerator.predictRouting(units[u + 1], step);
                    }
                }
                experts.run(accelerator, unit, u, step, predict);
                accelerator.runSharedExpert(unit, step);
            } else {
                accelerator.runBlock(unit, step);
            }
            tier.release(u);
        }
        boolean head = !step.hiddenOutputs();
        for (int u = blocks; u < units.length; u++) {
            // A hidden-state step computes no head; a streamed head slice is still taken through the ring, whose
            // copy schedule is fixed per route.
            tier.acquire(u);
            if (head) {
                accelerator.runHeadSlice(units[u], step);
            }
            tier.release(u);
        }
        tier.endStep();
        if (computesHead) {
            accelerator.endStep(step);
        }
    }

    /**
     * Joins this pass, a pipeline stage, to the stage before it: its device copies the activation from the previous
     * device directly where it can, else the previous stage leaves it in {@code between} (host memory) for this one.
     */
    void connectAfter(TieredForwardPass previous, float[] between) {
        if (accelerator.canCopyActivationFrom(previous.accelerator)) {
            stageSource = previous.accelerator;
        } else {
            previous.stageOutput = between;
            stageInput = between;
            // a copy through a host array waits for the host between the stages: not a graph's work
            previous.graphs = false;
            graphs = false;
        }
    }

    /**
     * Block {@code block} on the CPU, for the rows of a hybrid step (one decode token, or a speculative verification's
     * few): waits for the accelerator's work so far, brings the activation rows over, runs the block from host memory
     * (while the copy stream keeps filling slots for the streamed units ahead), sends the rows back, and hands their
     * keys and values to the accelerator's cache so that a later step computed there sees them.
     */
    private void cpuBlock(int block, TieredKvCache cache) {
        int position = step.startPosition();
        int rows = step.rows();
        long t0 = System.nanoTime();
        accelerator.activationToHost(activation, rows);
        long t1 = System.nanoTime();
        cpu.runBlock(block, cache.cpu, activation, rows, position);
        cpuNanos += System.nanoTime() - t1;
        cpuWaitNanos += t1 - t0;
        accelerator.activationFromHost(activation, rows);
        for (int t = 0; t < rows; t++) {
            handOff.toAccelerator(cache, block, position + t);
        }
    }

    // ------------------------------------------------------------------ ForwardPass

    @Override
    public void forward(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[] logits) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException("chunk of " + count + " tokens; this pass takes 1.." + maxChunk);
        }
        TieredKvCache cache = own(kvCache);
        checkPositions(cache, startPos, count);
        int vocab = config().vocabularySize();
        if (logits.length < vocab) {
            throw new IllegalArgumentException("logits array of " + logits.length + " < vocabulary " + vocab);
        }
        checkTokens(tokens, offset, count);
        sequenceStep(cache, tokens, offset, count, startPos, false);
        accelerator.readLogits(0, logits);
    }

    /** A pipeline stage before the last: {@link #forward}'s step without logits (the activation goes on). */
    void stageForward(KvCache kvCache, int[] tokens, int offset, int count, int startPos) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException("chunk of " + count + " tokens; this pass takes 1.." + maxChunk);
        }
        TieredKvCache cache = own(kvCache);
        checkPositions(cache, startPos, count);
        checkTokens(tokens, offset, count);
        sequenceStep(cache, tokens, offset, count, startPos, false);
    }

    /**
     * A chunk of one sequence whose every row's logits are needed (speculative verification): a prompt step of the
     * chunk, route ALL_ACCELERATOR (the CPU's blocks are streamed like the others: one copy serves every row), with
     * the head computing every row. The CPU blocks' rows come down into the CPU cache as after a prompt chunk, so
     * that a following decode step can run them on the CPU. One token is a plain decode step (hybrid route or graph).
     */
    @Override
    public void forwardAll(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[][] logits) {
        if (count > logits.length) {
            throw new IllegalArgumentException("forwardAll of " + count + " tokens with " + logits.length
                    + " logits rows; at most one token per row");
        }
        allRows(kvCache, tokens, offset, count, startPos, logits, 0);
    }

    /** {@link #forwardAll} with row t's logits into {@code logits[logitsFrom + t]}. */
    private void allRows(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[][] logits,
                         int logitsFrom) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException(count + " rows of one sequence in one step; this pass takes 1.."
                    + maxChunk + " (its prompt chunk)");
        }
        if (count == 1) {
            forward(kvCache, tokens, offset, 1, startPos, logits[logitsFrom]);
            return;
        }
        TieredKvCache cache = own(kvCache);
        checkPositions(cache, startPos, count);
        int vocab = config().vocabularySize();
        for (int t = logitsFrom; t < logitsFrom + count; t++) {
            if (logits[t] == null || logits[t].length < vocab) {
                throw new IllegalArgumentException("logits row " + t + " of "
                        + (logits[t] == null ? "null" : logits[t].length + " floats") + " < vocabulary " + vocab);
            }
        }
        checkTokens(tokens, offset, count);
        sequenceStep(cache, tokens, offset, count, startPos, true);
        for (int t = 0; t < count; t++) {
            accelerator.readLogits(t, logits[logitsFrom + t]);
        }
    }

    /**
     * One step of one sequence (checked by the caller): a decode step (one token: the graph when resident, the hybrid
     * route when the plan has CPU blocks) or a prompt chunk; {@code allOutputs}: every row's logits, not the last's.
     */
    private void sequenceStep(TieredKvCache cache, int[] tokens, int offset, int count, int startPos,
                              boolean allOutputs) {
        accelerator.makeCurrent();
        // The CPU computes its blocks for a decode token, and for a speculative verification's few rows where that
        // measured faster than streaming them (HybridRoutes). Prompt chunks stream.
        boolean hybrid = cpu != null && (count == 1 || allOutputs && hybridRoutes.hybrid(count));
        long started = System.nanoTime();
        step.prompt(count == 1 ? Phase.DECODE : Phase.PROMPT, cache.accelerator, tokens, offset, count, startPos);
        if (allOutputs) {
            step.allOutputs();
        }
        try {
            accelerator.stageInputs(step);
            if (count == 1 && graphs) {
                if (!accelerator.runAsGraph(cache.accelerator, residentDecode)) {
                    tier.replayedResidentStep(); // a capture counted its units' accesses as it recorded them
                }
            } else if (hybrid) {
                // The CPU's blocks come between accelerator work: its threads keep spinning through the whole step
                // rather than parking during the accelerator's part and being woken, one after another, per block.
                cpu.keepThreadsSpinning(true);
                try {
                    enqueue(StepRoute.HYBRID, cache);
                } finally {
                    cpu.keepThreadsSpinning(false);
                }
            } else if (experts != null && count == 1) {
                // a decode token's expert misses may run on the CPU between blocks: keep its threads spinning
                experts.keepCpuSpinning(true);
                try {
                    enqueue(StepRoute.ALL_ACCELERATOR, null);
                } finally {
                    experts.keepCpuSpinning(false);
                }
            } else {
                enqueue(StepRoute.ALL_ACCELERATOR, null);
            }
            accelerator.finishStep();
            tier.stepCompleted();
            if (stageOutput != null) {
                accelerator.activationToHost(stageOutput, step.rows());
            }
            if (!hybrid && cpu != null) {
                handOff.set(0, cache, startPos);
                acceleratorCaches[0] = cache.accelerator;
                handOff.toCpu(acceleratorCaches, 1, count);
                acceleratorCaches[0] = null;
            }
            if (cpu != null && allOutputs) {
                hybridRoutes.took(count, hybrid, System.nanoTime() - started);
            }
        } catch (RuntimeException | Error e) {
            tier.reset();
            if (experts != null) {
                experts.reset();
            }
            throw e;
        } finally {
            step.clear();
        }
    }

    /**
     * How a one-sequence step of several rows (a speculative verification) runs the plan's CPU blocks: the streamed
     * step's time and, per row count that ran hybrid, its time and the route it takes now ({@link HybridRoutes}); for
     * reports.
     */
    public String hybridRouteReport() {
        return cpu == null ? "no CPU blocks" : hybridRoutes.report();
    }

    /** One-sequence steps of one row count that may run before its route is chosen by measurement (benchmark warm-up). */
    public static int hybridRouteExplorationSteps() {
        return HybridRoutes.EXPLORATION_STEPS;
    }

    @Override
    public void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
        if (batch < 1 || batch > caches.length || batch > tokens.length || batch > positions.length
                || batch > logits.length) {
            throw new IllegalArgumentException("batch of " + batch + " with " + caches.length + " caches, "
                    + tokens.length + " tokens, " + positions.length + " positions and " + logits.length
                    + " logits arrays");
        }
        for (int from = 0; from < batch; from += rows) { // more sequences than the activation rows hold: in parts
            batchRows(caches, tokens, positions, from, Math.min(rows, batch - from), logits);
        }
    }

    /** The most sequences one batched step takes (a pipeline splits its batches by the same rule). */
    int rows() {
        return rows;
    }

    /**
     * Rows {@code from .. from+n-1} ({@code n <= rows()}) as one step, a sequence's rows adjacent
     * ({@link ForwardPass#forwardBatch}); {@code logits} null for a pipeline stage before the last.
     */
    void batchRows(KvCache[] caches, int[] tokens, int[] positions, int from, int n, float[][] logits) {
        ForwardPass.checkRowsOfOneSequence(caches, positions, from, n);
        if (caches[from] == caches[from + n - 1]) {
            // one sequence's rows (a lone decode token, or a lone sequence's verification): its own step, which
            // may run the CPU's blocks (sequenceStep), where a batch of several sequences streams them
            if (logits == null) {
                stageForward(caches[from], tokens, from, n, positions[from]);
            } else {
                allRows(caches[from], tokens, from, n, positions[from], logits, from);
            }
        } else {
            batchPart(caches, tokens, positions, from, n, logits);
        }
    }

    private void batchPart(KvCache[] caches, int[] tokens, int[] positions, int from, int n, float[][] logits) {
        int vocab = config().vocabularySize();
        for (int b = 0; b < n; b++) {
            TieredKvCache cache = own(caches[from + b]);
            checkPositions(cache, positions[from + b], 1);
            if (logits != null && logits[from + b].length < vocab) {
                throw new IllegalArgumentException("logits array " + (from + b) + " of " + logits[from + b].length
                        + " < vocabulary " + vocab);
            }
        }
        checkTokens(tokens, from, n);
        accelerator.makeCurrent();
        step.batch(caches, tokens, positions, from, n);
        for (int b = 0; b < n; b++) {
            TieredKvCache cache = (TieredKvCache) caches[from + b];
            step.setCache(b, cache.accelerator);
            acceleratorCaches[b] = cache.accelerator;
            if (handOff != null) {
                handOff.set(b, cache, positions[from + b]);
            }
        }
        try {
            accelerator.stageInputs(step);
            if (graphs) {
                if (!accelerator.runBatchAsGraph(n, residentDecode)) {
                    tier.replayedResidentStep(); // a capture counted its units' accesses as it recorded them
                }
            } else {
                enqueue(StepRoute.ALL_ACCELERATOR, null);
            }
            accelerator.finishStep();
            tier.stepCompleted();
            if (stageOutput != null) {
                accelerator.activationToHost(stageOutput, n);
            }
            if (handOff != null) {
                handOff.toCpu(acceleratorCaches, n, 1);
            }
        } catch (RuntimeException | Error e) {
            tier.reset();
            if (experts != null) {
                experts.reset();
            }
            throw e;
        } finally {
            step.clear();
            java.util.Arrays.fill(acceleratorCaches, 0, n, null);
        }
        for (int b = 0; logits != null && b < n; b++) {
            accelerator.readLogits(b, logits[from + b]);
        }
    }

    /**
     * Packed whole sequences in one prompt step of route ALL_ACCELERATOR (bidirectional or not, as the step says to
     * every block, resident or streamed), the head left out; the rows' hidden states
     * (after the output norm, computed on the device) come back instead of logits. The caches are those of an
     * embedding request, thrown away after it: nothing is handed to the CPU's blocks.
     */
    @Override
    public void forwardHidden(KvCache[] caches, int[] tokens, int[] lengths, int sequences, float[] hidden,
                              boolean bidirectional) {
        ForwardPass.checkBidirectional(config(), bidirectional);
        int dim = config().embeddingLength();
        if (sequences < 1 || sequences > caches.length || sequences > lengths.length) {
            throw new IllegalArgumentException(sequences + " sequences with " + caches.length + " caches and "
                    + lengths.length + " lengths");
        }
        int total = 0;
        for (int s = 0; s < sequences; s++) {
            TieredKvCache cache = own(caches[s]);
            checkPositions(cache, 0, lengths[s]);
            acceleratorCaches[s] = cache.accelerator;
            total += lengths[s];
        }
        if (total > maxChunk || total > rows || hidden.length < total * dim) {
            java.util.Arrays.fill(acceleratorCaches, 0, sequences, null);
            throw new IllegalArgumentException(total + " tokens together; this pass takes up to "
                    + Math.min(maxChunk, rows) + " per call, into " + hidden.length / dim + " hidden rows");
        }
        checkTokens(tokens, 0, total);
        accelerator.makeCurrent();
        step.packed(acceleratorCaches, tokens, lengths, sequences, bidirectional); // resident and streamed blocks alike
        try {
            accelerator.stageInputs(step);
            enqueue(StepRoute.ALL_ACCELERATOR, null);
            accelerator.finishStep();
            tier.stepCompleted();
        } catch (RuntimeException | Error e) {
            tier.reset();
            if (experts != null) {
                experts.reset();
            }
            throw e;
        } finally {
            step.clear();
            java.util.Arrays.fill(acceleratorCaches, 0, sequences, null);
        }
        for (int t = 0; t < total; t++) {
            accelerator.readHidden(t, hidden, t * dim);
        }
    }

    private TieredKvCache own(KvCache kvCache) {
        if (!(kvCache instanceof TieredKvCache cache) || cache.owner != this) {
            throw new IllegalArgumentException("the KV cache was not created by this forward pass");
        }
        return cache;
    }

    private static void checkPositions(KvCache cache, int startPos, int count) {
        if (startPos < 0 || startPos + count > cache.capacity()) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + count - 1)
                    + " do not fit the KV cache of " + cache.capacity());
        }
    }

    private void checkTokens(int[] tokens, int offset, int count) {
        int vocab = config().vocabularySize();
        for (int t = 0; t < count; t++) {
            int id = tokens[offset + t];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token " + id + " outside the vocabulary 0.." + (vocab - 1));
            }
        }
    }

    @Override
    public KvCache newKvCache(int capacity) {
        if (capacity < 1 || capacity > maxContext) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " outside 1.." + maxContext);
        }
        accelerator.makeCurrent();
        KvCache onAccelerator = accelerator.newKvCache(capacity);
        try {
            return new TieredKvCache(this, onAccelerator, cpu == null ? null : cpu.newKvCache(capacity));
        } catch (RuntimeException | Error e) {
            onAccelerator.close();
            throw e;
        }
    }

    @Override
    public ModelConfig config() {
        return accelerator.config();
    }

    @Override
    public int maxChunkTokens() {
        return maxChunk;
    }

    @Override
    public int maxContext() {
        return maxContext;
    }

    /** Where the units are and what streaming and the CPU's blocks have cost so far. */
    public OffloadStats offloadStats() {
        OffloadStats s = tier.stats(cpuNanos, cpuWaitNanos);
        return experts == null ? s : s.withExperts(expertStats());
    }

    /** The expert tier, when the experts are placed one by one, else null (tests: its slot accounting). */
    ExpertTier expertTier() {
        return experts;
    }

    /**
     * The expert cache's statistics when the experts are placed one by one (per block: hits, misses, evictions,
     * refused admissions), else null.
     */
    public ExpertCacheStats expertStats() {
        return experts == null ? null : experts.snapshot(expertReasoning);
    }

    /**
     * With experts placed one by one, each sparse block's choices reach the host anyway: {@code listener} is told
     * them (per block and step, {@code rows × k} expert ids). Otherwise the routing stays on the device.
     */
    @Override
    public void routingListener(io.offload4j.backend.MoeRoutingListener listener) {
        if (experts == null) {
            ForwardPass.super.routingListener(listener);
            return;
        }
        experts.routingListener(listener);
    }

    /** The placement this pass was prepared with. */
    public PlacementPlan plan() {
        return tier.plan();
    }

    /** Bytes of weights in accelerator memory: the resident units and the staging ring. */
    public long weightBytes() {
        return tier.plan().residentBytes() + tier.stagingBytes();
    }

    @Override
    public long freeDeviceMemory() {
        accelerator.makeCurrent();
        return accelerator.freeMemory();
    }

    @Override
    public String memoryReport() {
        return memoryReport;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        accelerator.makeCurrent();
        tier.close();
        if (experts != null) {
            experts.close();
        }
        if (cpu != null) {
            cpu.close();
        }
        accelerator.close();
    }
}

package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphExecDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyPeerAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.backend.BoundUnit;
import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceWeights;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.Phase;
import io.offload4j.backend.Step;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelTraits;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.lang.foreign.MemorySegment;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstreamCaptureMode;

/**
 * A model on one GPU, as the offload layer drives it: its {@link CudaWorkspace} (allocated at load), units uploaded
 * or bound to ring slots ({@link CudaUnits}), the kernels of a step ({@link CudaBlockKernels}), the decode graph, and
 * the hand-off primitives of a hybrid step. The block follows the same order of operations as the CPU's
 * ({@link io.offload4j.model.BlockRecipe}), same RoPE angles and RMSNorm formula, so that the two agree to rounding.
 *
 * <p><b>Decode</b> with every unit resident is captured once per KV cache as a CUDA graph ({@link #runAsGraph}) and
 * replayed, which removes ~250 launches' worth of driver overhead per token; the position is read by the kernels from
 * the device parameter block, so one graph serves every position. <b>Batches</b> run the projections of all
 * sequences as one multi-row pass and attention per sequence. Token embeddings are looked up on the host and never
 * occupy GPU memory.
 */
final class CudaModel implements AcceleratorModel {

    private final CudaDevice device;
    private final Model model;
    private final ModelConfig config;
    private final AcceleratorOptions options;
    private final CudaWorkspace ws;
    private final CudaBlockKernels blocks;
    private final Weight embedding;
    private final RowKernel embeddingKernel;
    private final float[] embedRow;
    private MemorySegment kvDown;
    private CudaRouting routing;    // the router's choices to the host and slots back; made with an expert pool
    private CudaCopyRing expertRing; // the expert pool, told when a routing read has seen the compute stream idle
    private boolean peerTried;
    /** Batched decode steps as graphs, by row count (captured on first use; see runBatchAsGraph). */
    private CUgraphExec[] batchGraphs;
    /** Per block (index), with experts placed one by one: a decode token's routed experts from the pool (a graph). */
    private CUgraphExec[] expertGraphs;
    private boolean closed;

    CudaModel(CudaDevice device, CudaKernels kernels, Model model, AcceleratorOptions options) {
        this.device = device;
        this.model = model;
        this.config = model.config();
        this.options = options;
        int splits = Math.clamp(2L * device.multiprocessors() / config.headCount(), 1, 32);
        device.makeCurrent();
        this.ws = new CudaWorkspace(kernels, model, options, splits, device.name());
        this.blocks = new CudaBlockKernels(kernels, config, ws, options.gemmMinTokens(), splits);
        this.embedding = model.weights().tokenEmbedding();
        this.embeddingKernel = CpuKernels.of(embedding.type());
        this.embedRow = new float[config.embeddingLength()];
    }

    // ------------------------------------------------------------------ units

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public long unitBytes(Weight... parts) {
        return CudaUnitLayout.of(parts).bytes();
    }

    @Override
    public DeviceWeights upload(Weight... parts) {
        device.makeCurrent();
        CudaUnitLayout unit = CudaUnitLayout.of(parts);
        CUdeviceptr dst = new CUdeviceptr();
        CudaMemory.alloc(dst, unit.bytes(), device.name(), "a resident unit of weights");
        long slice = 1L << 30;  // ByteBuffer views are limited to 2 GiB
        for (int i = 0; i < parts.length; i++) {
            MemorySegment src = parts[i].data();
            long size = src.byteSize();
            for (long off = 0; off < size; off += slice) {
                long len = Math.min(slice, size - off);
                cuMemcpyHtoD(dst.withByteOffset(unit.offsets()[i] + off),
                        Pointer.to(src.asSlice(off, len).asByteBuffer()), len);
            }
        }
        return new CudaBuffer(dst, unit.bytes(), true);
    }

    @Override
    public CopyRing copyRing(Weight[][] units, boolean[] streamed, boolean[] pinned, int slots, long slotBytes,
                             int tickets) {
        device.makeCurrent();
        CudaUnitLayout[] layouts = new CudaUnitLayout[units.length];
        for (int u = 0; u < units.length; u++) {
            layouts[u] = CudaUnitLayout.of(units[u]);
        }
        return new CudaCopyRing(layouts, streamed, pinned, slots, slotBytes, tickets, ws.stream);
    }

    @Override
    public BoundUnit bindBlock(int block, DeviceWeights weights) {
        io.offload4j.model.BlockWeights b = model.weights().blocks().get(block);
        return CudaUnits.block(block, b.matrices(), ((CudaBuffer) weights).ptr(), ws.norms[block], b.moe());
    }

    @Override
    public BoundUnit bindHeadSlice(int firstRow, Weight slice, DeviceWeights weights, boolean whole) {
        if (!whole) {
            device.makeCurrent();
            ws.sliceOut(slice.rows()); // allocated now, at preparation, for the widest slice
        }
        return CudaUnits.headSlice(firstRow, slice, ((CudaBuffer) weights).ptr(), whole);
    }

    @Override
    public KvCache newKvCache(int capacity) {
        device.makeCurrent();
        // Sliding-window blocks keep a ring (CudaKvCache.ringRows) where its two copies take less room than the
        // capacity; see CudaKvCache and CpuKvCache. The cache holds this device's blocks only (firstBlock ..).
        ModelTraits traits = config.traits();
        int first = options.firstBlock();
        int[] ring = new int[options.blockCount(config.blockCount())];
        int rows = CudaKvCache.ringRows(traits.slidingWindow(), ws.rows);
        int rewind = Integer.MAX_VALUE;
        for (int i = 0; i < ring.length; i++) {
            if (traits.sliding(first + i) && 2L * rows < capacity) {
                ring[i] = rows;
                rewind = rows - traits.slidingWindow();
            }
        }
        return new CudaKvCache(this, first, ring.length, capacity, config.keyValueDim(), device.name(), ring, rewind);
    }

    // ------------------------------------------------------------------ a step

    @Override
    public void stageInputs(Step step) {
        int count = step.rows();
        if (step.phase() == Phase.BATCH) {
            ws.paramsView.put(0, 0);
            ws.paramsView.put(1, count);
            for (int b = 0; b < count; b++) {
                ws.paramsView.put(2 + b, step.token(b));
                ws.seqParamsView.put(4 * b, step.position(b));
                ws.seqParamsView.put(4 * b + 1, 1);
                ws.seqParamsView.put(4 * b + 2, step.token(b));
                ws.seqParamsView.put(4 * b + 3, 0);
            }
            ws.upload(ws.seqParams, ws.seqParamsMapped, ws.seqParamsHost, 0, 16L * count);
            stageBatchTables(step, count);
        } else {
            ws.paramsView.put(0, step.startPosition());
            ws.paramsView.put(1, count);
            for (int t = 0; t < count; t++) {
                ws.paramsView.put(2 + t, step.token(t));
            }
            if (step.segments() > 0) { // packed sequences: each attends from position 0 of its own cache
                for (int s = 0; s < step.segments(); s++) {
                    int first = step.segmentStart(s);
                    ws.seqParamsView.put(4 * s, 0);
                    ws.seqParamsView.put(4 * s + 1, step.segmentLength(s));
                    ws.seqParamsView.put(4 * s + 2, step.token(first));
                    ws.seqParamsView.put(4 * s + 3, 0);
                }
                ws.upload(ws.seqParams, ws.seqParamsMapped, ws.seqParamsHost, 0, 16L * step.segments());
            }
        }
        int dim = config.embeddingLength();
        float scale = config.traits().embeddingScale();
        for (int t = 0; t < count; t++) {
            embeddingKernel.dequantize(embedding.data(), (long) step.token(t) * embedding.rowBytes(), embedRow, 0,
                    dim);
            if (scale != 1f) { // Gemma: × √width, as the CPU pass does
                for (int i = 0; i < dim; i++) {
                    embedRow[i] *= scale;
                }
            }
            ws.xView.put(t * dim, embedRow, 0, dim);
        }
    }

    /**
     * Each sequence's key and value addresses and ring per block this device holds, for qkv_post_batch and
     * attn_decode_batch (CudaWorkspace.batchTables): a batched step's kernels read them, not the caches' pointers,
     * so that the same launches (and a graph of them) serve whichever sequences run.
     */
    private void stageBatchTables(Step step, int count) {
        int first = options.firstBlock();
        int end = first + options.blockCount(config.blockCount());
        for (int b = 0; b < count; b++) {
            CudaKvCache cache = (CudaKvCache) step.cache(b);
            for (int l = first; l < end; l++) {
                int kv = (int) (CudaWorkspace.batchKvOffset(l, count) / 8) + 2 * b;
                ws.batchKvView.put(kv, cache.keysAddress(l));
                ws.batchKvView.put(kv + 1, cache.valuesAddress(l));
                ws.batchRingsView.put((int) (CudaWorkspace.batchRingsOffset(config, l, count) / 4) + b, cache.ring(l));
            }
        }
        ws.upload(ws.batchTables, ws.batchTablesMapped, ws.batchTablesHost, 0,
                CudaWorkspace.batchTableBytes(config, count));
    }

    @Override
    public void beginStep(Step step) {
        int count = step.rows();
        ws.upload(ws.params, ws.paramsMapped, ws.paramsHost, 0, 4L * (2 + count));
        ws.upload(ws.x, ws.xMapped, ws.xHost, 0, 4L * count * config.embeddingLength());
    }

    @Override
    public void runBlock(BoundUnit block, Step step) {
        blocks.block((CudaUnits.DevBlock) block, step);
    }

    @Override
    public void runHeadSlice(BoundUnit slice, Step step) {
        blocks.headSlice((CudaUnits.OutputSlice) slice, step);
    }

    @Override
    public void endStep(Step step) {
        if (step.hiddenOutputs()) {
            blocks.hiddenStates(step.rows());
            cuMemcpyDtoHAsync(ws.xHost, ws.hb, 4L * step.rows() * config.embeddingLength(), ws.stream);
            return;
        }
        float cap = config.traits().finalSoftcap();
        if (cap > 0) {
            blocks.softcapLogits(step.outputs(), cap);
        }
        cuMemcpyDtoHAsync(ws.logitsHost, ws.logits, 4L * step.outputs() * config.vocabularySize(), ws.stream);
    }

    @Override
    public void finishStep() {
        cuStreamSynchronize(ws.stream);
    }

    @Override
    public void readLogits(int row, float[] logits) {
        int vocab = config.vocabularySize();
        ws.logitsView.get(row * vocab, logits, 0, vocab);
    }

    @Override
    public void readHidden(int row, float[] out, int offset) {
        int dim = config.embeddingLength();
        ws.xView.get(row * dim, out, offset, dim);
    }

    @Override
    public boolean runAsGraph(KvCache kvCache, Runnable enqueue) {
        CudaKvCache cache = (CudaKvCache) kvCache;
        boolean captured = false;
        if (cache.decodeGraph == null) {
            cache.decodeGraph = capture(enqueue);
            captured = true;
        }
        cuGraphLaunch(cache.decodeGraph, ws.stream);
        return captured;
    }

    @Override
    public boolean runBatchAsGraph(int rows, Runnable enqueue) {
        if (batchGraphs == null) {
            batchGraphs = new CUgraphExec[ws.rows + 1];
        }
        boolean captured = false;
        if (batchGraphs[rows] == null) {
            batchGraphs[rows] = capture(enqueue);
            captured = true;
        }
        cuGraphLaunch(batchGraphs[rows], ws.stream);
        return captured;
    }

    private void destroyExpertGraphs() {
        if (expertGraphs != null) {
            for (CUgraphExec g : expertGraphs) {
                if (g != null) {
                    cuGraphExecDestroy(g);
                }
            }
            expertGraphs = null;
        }
    }

    private CUgraphExec capture(Runnable enqueue) {
        CUgraph graph = new CUgraph();
        cuStreamBeginCapture(ws.stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        try {
            enqueue.run();
        } finally {
            cuStreamEndCapture(ws.stream, graph);
        }
        CUgraphExec exec = new CUgraphExec();
        try {
            cuGraphInstantiate(exec, graph, 0);
        } finally {
            cuGraphDestroy(graph);
        }
        return exec;
    }

    @Override
    public long freeMemory() {
        device.makeCurrent();
        long[] free = new long[1];
        long[] total = new long[1];
        cuMemGetInfo(free, total);
        return free[0];
    }

    @Override
    public boolean graphs() {
        return options.graphs();
    }

    // ------------------------------------------------------------------ experts placed one by one

    @Override
    public CopyRing expertPool(Weight[][] experts, boolean[] pinned, int slots, long slotBytes) {
        if (config.moe() == null) {
            throw new IllegalStateException("an expert pool for a dense model");
        }
        device.makeCurrent();
        destroyExpertGraphs(); // recorded against a pool before this one
        CudaUnitLayout[] layouts = new CudaUnitLayout[experts.length];
        boolean[] streamed = new boolean[experts.length];
        for (int u = 0; u < experts.length; u++) {
            layouts[u] = CudaUnitLayout.of(experts[u]);
            streamed[u] = true;
        }
        if (routing == null) {
            routing = new CudaRouting(ws, config.moe());
        }
        ws.moe.reserveGroupIds(slots); // a pooled block's choices are slot numbers: the grouping sorts those
        expertRing = new CudaCopyRing(layouts, streamed, pinned, slots, slotBytes, slots, ws.stream, true);
        return expertRing;
    }

    @Override
    public BoundUnit bindPooledBlock(int block, DeviceWeights attention, CopyRing pool) {
        io.offload4j.model.BlockWeights b = model.weights().blocks().get(block);
        CudaCopyRing ring = (CudaCopyRing) pool;
        return CudaUnits.pooledBlock(block, b.attentionMatrices(), ((CudaBuffer) attention).ptr(), ws.norms[block],
                b.moe(), ring.base(), ring.bytesPerSlot());
    }

    @Override
    public void runSparseAttention(BoundUnit block, Step step) {
        blocks.block((CudaUnits.DevBlock) block, step);
    }

    @Override
    public void readRouting(int rows, int[] chosen, float[] weights) {
        routing.download(rows, chosen, weights);
        if (expertRing != null) {
            expertRing.computeIdle(); // the download synchronised the stream: every pass that read a slot has run
        }
    }

    @Override
    public void runPooledExperts(BoundUnit block, Step step, int[] slots, float[] weights) {
        CudaUnits.DevBlock b = (CudaUnits.DevBlock) block;
        if (step.rows() == 1 && options.graphs()) {
            // the pool's slots are read through the slot numbers the graph uploads from the host's graph region:
            // one graph per block serves every token
            routing.writeForGraph(1, slots, weights);
            if (expertGraphs == null) {
                expertGraphs = new CUgraphExec[config.blockCount()];
            }
            if (expertGraphs[b.index()] == null) {
                expertGraphs[b.index()] = capture(() -> {
                    routing.enqueueGraphUpload(1);
                    blocks.routedExperts(b, 1);
                });
            }
            cuGraphLaunch(expertGraphs[b.index()], ws.stream);
            return;
        }
        routing.upload(step.rows(), slots, weights);
        blocks.routedExperts(b, step.rows());
    }

    @Override
    public boolean runSparseAttentionAsGraph(KvCache kvCache, BoundUnit block, BoundUnit predictNext, Step step) {
        if (step.rows() != 1 || !options.graphs()) {
            return AcceleratorModel.super.runSparseAttentionAsGraph(kvCache, block, predictNext, step);
        }
        CudaKvCache cache = (CudaKvCache) kvCache;
        CudaUnits.DevBlock b = (CudaUnits.DevBlock) block;
        CudaUnits.DevBlock next = (CudaUnits.DevBlock) predictNext;
        if (cache.blockGraphs == null) {
            cache.blockGraphs = new CUgraphExec[2 * config.blockCount()]; // per block: without, with the prediction
        }
        // one launch for the block's attention part, the next block's prediction and the choices' copy to the host
        int g = 2 * b.index() + (next != null ? 1 : 0);
        boolean captured = false;
        if (cache.blockGraphs[g] == null) {
            cache.blockGraphs[g] = capture(() -> {
                blocks.block(b, step);
                if (next != null) {
                    routing.predict(blocks, next, 1);
                }
                routing.enqueueDownload(1);
            });
            captured = true;
        }
        cuGraphLaunch(cache.blockGraphs[g], ws.stream);
        routing.downloadEnqueued();
        return captured;
    }

    @Override
    public void predictRouting(BoundUnit next, Step step) {
        routing.predict(blocks, (CudaUnits.DevBlock) next, step.rows());
    }

    @Override
    public void readPredicted(int rows, int[] predicted) {
        routing.predicted(rows, predicted);
    }

    @Override
    public void runSharedExpert(BoundUnit block, Step step) {
        blocks.sharedExpert((CudaUnits.DevBlock) block, step.rows());
    }

    // ------------------------------------------------------------------ hand-off

    @Override
    public void activationToHost(float[] rows, int count) {
        int n = count * config.embeddingLength();
        cuMemcpyDtoHAsync(ws.xHost, ws.x, 4L * n, ws.stream);
        cuStreamSynchronize(ws.stream);
        ws.xView.get(0, rows, 0, n);
    }

    @Override
    public void activationFromHost(float[] rows, int count) {
        int n = count * config.embeddingLength();
        ws.xView.put(0, rows, 0, n);
        ws.upload(ws.x, ws.xMapped, ws.xHost, 0, 4L * n);
    }

    @Override
    public boolean canCopyActivationFrom(AcceleratorModel previous) {
        return previous instanceof CudaModel;
    }

    /**
     * A peer copy: within one context (two logical devices on one GPU) a device-to-device copy; between GPUs direct
     * over NVLink or PCIe where the driver enables peer access, else staged through host memory by the driver.
     */
    @Override
    public void activationFrom(AcceleratorModel previous, int count) {
        CudaModel from = (CudaModel) previous;
        if (from.device.ordinal() != device.ordinal() && !peerTried) {
            peerTried = true;
            boolean direct = device.enablePeerAccess(from.device);
            System.getLogger("io.offload4j.backend.cuda").log(System.Logger.Level.INFO, device.name() + " takes "
                    + from.device.name() + "'s activations " + (direct ? "directly (peer access)"
                    : "through host memory (no peer access between them)"));
        }
        cuMemcpyPeerAsync(ws.x, device.context(), from.ws.x, from.device.context(),
                4L * count * config.embeddingLength(), ws.stream);
    }

    @Override
    public void writeKvRow(KvCache kvCache, int block, int position, float[] key, float[] value) {
        CudaKvCache cache = (CudaKvCache) kvCache;
        int kvDim = config.keyValueDim();
        // each (block, position mod KV_ROWS_PER_STEP) has its own part of the buffer: the copy kernel of an earlier
        // block, or of this block's earlier row in a multi-row hybrid step, may not have read its part yet
        int at = 2 * kvDim * (block * KV_ROWS_PER_STEP + Math.floorMod(position, KV_ROWS_PER_STEP));
        for (int j = 0; j < kvDim; j++) {
            ws.kvUpView.put(at + j, Float.floatToFloat16(key[j]));
            ws.kvUpView.put(at + kvDim + j, Float.floatToFloat16(value[j]));
        }
        int row = cache.row(block, position);
        for (int copy = 0; copy < (cache.ring(block) == 0 ? 1 : 2); copy++, row += cache.ring(block)) {
            ws.upload(cache.keys(block).withByteOffset(2L * row * kvDim), ws.kvUpMapped, ws.kvUpHost, 2L * at,
                    2L * kvDim);
            ws.upload(cache.values(block).withByteOffset(2L * row * kvDim), ws.kvUpMapped, ws.kvUpHost,
                    2L * (at + kvDim), 2L * kvDim);
        }
    }

    @Override
    public MemorySegment kvStaging(long bytes) {
        if (kvDown != null) {
            throw new IllegalStateException("the K/V staging buffer is allocated once");
        }
        device.makeCurrent();
        CudaMemory.allocHost(ws.kvDownHost, bytes, 0, "the K/V hand-over buffer");
        kvDown = MemorySegment.ofBuffer(ws.kvDownHost.getByteBuffer(0, bytes));
        return kvDown;
    }

    @Override
    public void copyKvToHost(KvCache kvCache, int block, int from, int count, long keysAt, long valuesAt) {
        CudaKvCache cache = (CudaKvCache) kvCache;
        long rowBytes = 2L * config.keyValueDim();
        // in a ring, a step's rows (at most R) are contiguous from the first one's row: each position is stored twice
        long row = cache.row(block, from);
        cuMemcpyDtoHAsync(ws.kvDownHost.withByteOffset(keysAt), cache.keys(block).withByteOffset(row * rowBytes),
                count * rowBytes, ws.stream);
        cuMemcpyDtoHAsync(ws.kvDownHost.withByteOffset(valuesAt), cache.values(block).withByteOffset(row * rowBytes),
                count * rowBytes, ws.stream);
    }

    // ------------------------------------------------------------------ memory

    @Override
    public long workspaceBytes() {
        return ws.deviceBytes();
    }

    @Override
    public void makeCurrent() {
        device.makeCurrent();
    }

    /** Device to device on the compute stream: after every step enqueued so far, before the next. */
    void copyOnStream(CUdeviceptr to, CUdeviceptr from, long bytes) {
        cuMemcpyDtoDAsync(to, from, bytes, ws.stream);
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.makeCurrent();
        if (routing != null) {
            routing.close();
        }
        if (batchGraphs != null) {
            for (CUgraphExec g : batchGraphs) {
                if (g != null) {
                    cuGraphExecDestroy(g);
                }
            }
        }
        destroyExpertGraphs();
        ws.close();
    }
}

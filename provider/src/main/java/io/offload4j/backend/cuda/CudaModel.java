package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP;
import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;
import static jcuda.driver.JCudaDriver.cuMemcpy2DAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.backend.BoundUnit;
import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceWeights;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.Phase;
import io.offload4j.backend.Step;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.RopeFrequencies;
import io.offload4j.model.Weight;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUDA_MEMCPY2D;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUmemorytype;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;

/**
 * A model on one GPU: the workspace (activations for {@code rows} tokens, an fp16 scratch for dequantized weights,
 * the parameter blocks and the logits, pinned on the host side, all allocated here, at load) and the kernels of a
 * step. The transformer block follows the same order of operations as the CPU's ({@link io.offload4j.model.BlockRecipe}):
 * same RoPE angles, same RMSNorm formula, so that the two agree to rounding.
 *
 * <p><b>Decode</b> (one row) runs the matrix-vector kernels and the split-K attention kernel; with every unit resident
 * the whole step is captured once per KV cache as a CUDA graph ({@link #runAsGraph}) and replayed, which removes ~250
 * launches' worth of driver overhead per token; the position is read by the kernels from the device parameter block,
 * so one graph serves every position. <b>Batches</b> run the projections of all sequences as one multi-row pass and
 * attention per sequence. Steps of at least {@code gemmMinTokens} rows dequantize each weight to fp16 and multiply on
 * tensor cores; shorter ones use the matrix-vector kernels on up to 8 rows at a time. Token embeddings are looked up
 * on the host and never occupy GPU memory; norm weights and biases are uploaded once, as fp32.
 */
final class CudaModel implements AcceleratorModel {

    /** A weight matrix in device memory, in its file format. */
    record DevMatrix(GgmlTypeAndShape shape, CUdeviceptr ptr) {}

    /** Format and shape of a matrix. */
    record GgmlTypeAndShape(io.offload4j.gguf.GgmlType type, int rows, int cols, long rowBytes) {}

    /** One transformer block bound to device memory; optional vectors are null. */
    record DevBlock(int index, CUdeviceptr attnNorm, DevMatrix wq, DevMatrix wk, DevMatrix wv, DevMatrix wo,
                    CUdeviceptr qBias, CUdeviceptr kBias, CUdeviceptr vBias, CUdeviceptr qNorm, CUdeviceptr kNorm,
                    CUdeviceptr ffnNorm, DevMatrix gate, DevMatrix up, DevMatrix down, DevMatrix[][] qkvGroups,
                    boolean gemmOk) implements BoundUnit {}

    /** Rows {@code firstRow ..} of the output head bound to device memory. */
    record OutputSlice(int firstRow, DevMatrix matrix, boolean whole) implements BoundUnit {}

    /** A block's fp32 vectors on the device (norm weights, biases), shared by every binding of the block. */
    private record BlockNorms(CUdeviceptr attnNorm, CUdeviceptr qBias, CUdeviceptr kBias, CUdeviceptr vBias,
                              CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr ffnNorm) {}

    /** Uploads up to this size are copied by the SMs from mapped memory; larger ones by the copy engine. */
    private static final long SMALL_UPLOAD_BYTES = 256 << 10;

    private final CudaDevice device;
    private final CudaKernels kernels;
    private final Model model;
    private final ModelConfig config;
    private final AcceleratorOptions options;
    private final int rows;
    private final int splits;
    private final CUstream stream = new CUstream();
    private final List<CUdeviceptr> allocations = new ArrayList<>();
    private long deviceBytes;

    private final Weight embedding;
    private final RowKernel embeddingKernel;
    private final BlockNorms[] norms;
    private final CUdeviceptr outputNorm;
    private final CUdeviceptr invFreq;

    // activations, token-major, for up to `rows` tokens
    private final CUdeviceptr params;
    private final CUdeviceptr seqParams;   // per sequence of a batch: {position, 1, token, 0}
    private final CUdeviceptr x;
    private final CUdeviceptr q;
    private final CUdeviceptr k;
    private final CUdeviceptr v;
    private final CUdeviceptr attn;
    private final CUdeviceptr hb;
    private final CUdeviceptr hb2;
    private final CUdeviceptr a16;
    private final CUdeviceptr w16;
    private final CUdeviceptr partial;
    private final CUdeviceptr counters;
    private final CUdeviceptr logitsDev;
    private CUdeviceptr sliceOut;          // one output slice's logits for a batch, before the strided copy
    private int sliceOutRows;
    // pinned host memory, and the same buffers as the GPU addresses them (for uploads the SMs read themselves)
    private final Pointer paramsHost = new Pointer();
    private final Pointer seqParamsHost = new Pointer();
    private final Pointer xHost = new Pointer();
    private final Pointer kvUpHost = new Pointer();   // fp16 K/V rows computed elsewhere, per block, on their way in
    private final Pointer kvDownHost = new Pointer(); // fp16 K/V rows on their way to a host cache
    private final Pointer logitsHost = new Pointer();
    private final CUdeviceptr paramsMapped = new CUdeviceptr();
    private final CUdeviceptr seqParamsMapped = new CUdeviceptr();
    private final CUdeviceptr xMapped = new CUdeviceptr();
    private final CUdeviceptr kvUpMapped = new CUdeviceptr();
    private final IntBuffer paramsView;
    private final IntBuffer seqParamsView;
    private final FloatBuffer xView;
    private final FloatBuffer logitsView;
    private final ShortBuffer kvUpView;
    private final float[] embedRow;
    private final CUDA_MEMCPY2D sliceCopy = new CUDA_MEMCPY2D();
    private final DevMatrix[] one = new DevMatrix[1];
    private final CUdeviceptr[] oneOut = new CUdeviceptr[1];
    private final DevMatrix[] gateUp = new DevMatrix[2];
    private final CUdeviceptr[] qkvOuts = new CUdeviceptr[3];
    private boolean closed;

    CudaModel(CudaDevice device, CudaKernels kernels, Model model, AcceleratorOptions options) {
        this.device = device;
        this.kernels = kernels;
        this.model = model;
        this.config = model.config();
        this.options = options;
        this.rows = options.rows();
        ModelConfig c = config;
        this.splits = Math.clamp(2L * device.multiprocessors() / c.headCount(), 1, 32);
        ModelWeights w = model.weights();
        this.embedding = w.tokenEmbedding();
        this.embeddingKernel = CpuKernels.of(embedding.type());
        device.makeCurrent();
        try {
            cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
            norms = new BlockNorms[c.blockCount()];
            for (int l = 0; l < norms.length; l++) {
                BlockWeights b = w.blocks().get(l);
                norms[l] = new BlockNorms(uploadFloats(b.attentionNorm()), uploadFloats(b.qBias()),
                        uploadFloats(b.kBias()), uploadFloats(b.vBias()), uploadFloats(b.qNorm()),
                        uploadFloats(b.kNorm()), uploadFloats(b.ffnNorm()));
            }
            outputNorm = uploadFloats(w.outputNorm());
            invFreq = uploadDoubles(RopeFrequencies.inverse(c, w.ropeFrequencyFactors()));
            int dim = c.embeddingLength();
            int ffn = c.feedForwardLength();
            params = alloc(4L * (2 + rows));
            seqParams = alloc(16L * rows);
            x = alloc(4L * rows * dim);
            q = alloc(4L * rows * c.queryDim());
            k = alloc(4L * rows * c.keyValueDim());
            v = alloc(4L * rows * c.valueDim());
            attn = alloc(4L * rows * c.queryDim());
            hb = alloc(4L * rows * ffn);
            hb2 = alloc(4L * rows * ffn);
            boolean gemm = usesGemm(w, options);
            a16 = gemm ? alloc(2L * rows * widest(c)) : null;
            w16 = gemm ? alloc(2L * largestNonF16Matrix(w)) : null;
            partial = alloc(4L * CudaKernels.attnPartialFloats(c.headCount(), c.headDim(), splits));
            counters = alloc(4L * c.headCount());
            cuMemsetD8(counters, (byte) 0, 4L * c.headCount());
            logitsDev = alloc(4L * rows * c.vocabularySize());
            cuMemHostAlloc(paramsHost, 4L * (2 + rows), CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostAlloc(seqParamsHost, 16L * rows, CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostAlloc(xHost, 4L * rows * dim, CU_MEMHOSTALLOC_DEVICEMAP);
            long kvUpBytes = 4L * c.blockCount() * c.keyValueDim();
            cuMemHostAlloc(kvUpHost, kvUpBytes, CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostGetDevicePointer(paramsMapped, paramsHost, 0);
            cuMemHostGetDevicePointer(seqParamsMapped, seqParamsHost, 0);
            cuMemHostGetDevicePointer(xMapped, xHost, 0);
            cuMemHostGetDevicePointer(kvUpMapped, kvUpHost, 0);
            cuMemHostAlloc(logitsHost, 4L * rows * c.vocabularySize(), 0);
            paramsView = paramsHost.getByteBuffer(0, 4L * (2 + rows)).order(ByteOrder.nativeOrder()).asIntBuffer();
            seqParamsView = seqParamsHost.getByteBuffer(0, 16L * rows).order(ByteOrder.nativeOrder()).asIntBuffer();
            xView = xHost.getByteBuffer(0, 4L * rows * dim).order(ByteOrder.nativeOrder()).asFloatBuffer();
            kvUpView = kvUpHost.getByteBuffer(0, kvUpBytes).order(ByteOrder.nativeOrder()).asShortBuffer();
            logitsView = logitsHost.getByteBuffer(0, 4L * rows * c.vocabularySize()).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
            embedRow = new float[dim];
            sliceCopy.srcMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
            sliceCopy.dstMemoryType = CUmemorytype.CU_MEMORYTYPE_DEVICE;
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /** Whether steps of many rows can run on tensor cores: some block's every matrix has a GEMM-able shape. */
    private static boolean usesGemm(ModelWeights w, AcceleratorOptions options) {
        if (options.rows() < options.gemmMinTokens()) {
            return false;
        }
        for (BlockWeights b : w.blocks()) {
            if (gemmOk(b.matrices())) {
                return true;
            }
        }
        return false;
    }

    private static boolean gemmOk(Weight[] matrices) {
        for (Weight m : matrices) {
            if (!CudaKernels.gemmShapeOk(m.rows(), m.cols()) || !CudaKernels.vectorisable(m.type(), m.cols())) {
                return false;
            }
        }
        return true;
    }

    private static int widest(ModelConfig c) {
        return Math.max(Math.max(c.embeddingLength(), c.queryDim()), c.feedForwardLength());
    }

    private static long largestNonF16Matrix(ModelWeights w) {
        long n = 1;
        for (BlockWeights b : w.blocks()) {
            for (Weight m : b.matrices()) {
                if (m.type() != io.offload4j.gguf.GgmlType.F16) {
                    n = Math.max(n, (long) m.rows() * m.cols());
                }
            }
        }
        return n;
    }

    /** Device bytes of the workspace for {@code options}, without allocating (the weight budget is set from it). */
    static long workspaceBytes(Model model, AcceleratorOptions options, int multiprocessors) {
        ModelConfig c = model.config();
        ModelWeights w = model.weights();
        long r = options.rows();
        long perRow = 4L * (c.embeddingLength() + 2L * c.queryDim() + c.keyValueDim() + c.valueDim()
                + 2L * c.feedForwardLength() + c.vocabularySize()) + 16 + 4;
        long gemm = usesGemm(w, options) ? 2L * r * widest(c) + 2L * largestNonF16Matrix(w) : 0;
        int splits = Math.clamp(2L * multiprocessors / c.headCount(), 1, 32);
        long attention = 4L * CudaKernels.attnPartialFloats(c.headCount(), c.headDim(), splits) + 4L * c.headCount();
        long vectors = 0;
        for (BlockWeights b : w.blocks()) {
            vectors += 4L * (length(b.attentionNorm()) + length(b.qBias()) + length(b.kBias()) + length(b.vBias())
                    + length(b.qNorm()) + length(b.kNorm()) + length(b.ffnNorm()));
        }
        vectors += 4L * c.embeddingLength() + 8L * c.ropeDimensions();
        return perRow * r + gemm + attention + vectors;
    }

    private static int length(float[] a) {
        return a == null ? 0 : a.length;
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
        cuMemAlloc(dst, unit.bytes());
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
        return new CudaCopyRing(layouts, streamed, pinned, slots, slotBytes, tickets, stream);
    }

    @Override
    public BoundUnit bindBlock(int block, DeviceWeights weights) {
        Weight[] parts = model.weights().blocks().get(block).matrices();
        DevMatrix[] m = place(parts, ((CudaBuffer) weights).ptr());
        DevMatrix wq = m[0];
        DevMatrix wk = m[1];
        DevMatrix wv = m[2];
        // Q, K and V of one format run as one launch; a mixed block (Q4_K_M keeps V in Q6_K in some blocks) groups
        // by format.
        List<DevMatrix[]> groups = new ArrayList<>();
        List<DevMatrix> pending = new ArrayList<>(List.of(wq, wk, wv));
        while (!pending.isEmpty()) {
            var t = pending.getFirst().shape().type();
            List<DevMatrix> same = pending.stream().filter(d -> d.shape().type() == t).toList();
            groups.add(same.toArray(DevMatrix[]::new));
            pending.removeAll(same);
        }
        BlockNorms n = norms[block];
        return new DevBlock(block, n.attnNorm(), wq, wk, wv, m[3], n.qBias(), n.kBias(), n.vBias(), n.qNorm(),
                n.kNorm(), n.ffnNorm(), m[4], m[5], m[6], groups.toArray(DevMatrix[][]::new), gemmOk(parts));
    }

    @Override
    public BoundUnit bindHeadSlice(int firstRow, Weight slice, DeviceWeights weights, boolean whole) {
        if (!whole && sliceOutRows < slice.rows()) { // at preparation: room for the widest slice's logits
            device.makeCurrent();
            if (sliceOut != null) {
                cuMemFree(sliceOut);
                allocations.remove(sliceOut);
                deviceBytes -= 4L * rows * sliceOutRows;
            }
            sliceOut = alloc(4L * rows * slice.rows());
            sliceOutRows = slice.rows();
        }
        return new OutputSlice(firstRow, place(new Weight[] {slice}, ((CudaBuffer) weights).ptr())[0], whole);
    }

    private static DevMatrix[] place(Weight[] parts, CUdeviceptr base) {
        CudaUnitLayout layout = CudaUnitLayout.of(parts);
        DevMatrix[] m = new DevMatrix[parts.length];
        for (int i = 0; i < parts.length; i++) {
            Weight w = parts[i];
            m[i] = new DevMatrix(new GgmlTypeAndShape(w.type(), w.rows(), w.cols(), w.rowBytes()),
                    base.withByteOffset(layout.offsets()[i]));
        }
        return m;
    }

    @Override
    public KvCache newKvCache(int capacity) {
        device.makeCurrent();
        return new CudaKvCache(this, config.blockCount(), capacity, config.keyValueDim());
    }

    // ------------------------------------------------------------------ a step

    @Override
    public void stageInputs(Step step) {
        int count = step.rows();
        if (step.phase() == Phase.BATCH) {
            paramsView.put(0, 0);
            paramsView.put(1, count);
            for (int b = 0; b < count; b++) {
                paramsView.put(2 + b, step.token(b));
                seqParamsView.put(4 * b, step.position(b));
                seqParamsView.put(4 * b + 1, 1);
                seqParamsView.put(4 * b + 2, step.token(b));
                seqParamsView.put(4 * b + 3, 0);
            }
            upload(seqParams, seqParamsMapped, seqParamsHost, 0, 16L * count);
        } else {
            paramsView.put(0, step.startPosition());
            paramsView.put(1, count);
            for (int t = 0; t < count; t++) {
                paramsView.put(2 + t, step.token(t));
            }
        }
        int dim = config.embeddingLength();
        for (int t = 0; t < count; t++) {
            embeddingKernel.dequantize(embedding.data(), (long) step.token(t) * embedding.rowBytes(), embedRow, 0,
                    dim);
            xView.put(t * dim, embedRow, 0, dim);
        }
    }

    @Override
    public void beginStep(Step step) {
        int count = step.rows();
        upload(params, paramsMapped, paramsHost, 0, 4L * (2 + count));
        upload(x, xMapped, xHost, 0, 4L * count * config.embeddingLength());
    }

    @Override
    public void runBlock(BoundUnit unit, Step step) {
        DevBlock b = (DevBlock) unit;
        int count = step.rows();
        ModelConfig c = config;
        int dim = c.embeddingLength();
        float eps = c.rmsNormEps();
        boolean gemm = count >= options.gemmMinTokens() && b.gemmOk() && a16 != null;

        // attention
        if (gemm) {
            kernels.rmsnorm(stream, x, b.attnNorm(), null, a16, dim, eps, count);
            gemm(b.wq(), q, count, false);
            gemm(b.wk(), k, count, false);
            gemm(b.wv(), v, count, false);
        } else {
            // the attention norm is fused into the projections
            for (DevMatrix[] group : b.qkvGroups()) {
                for (int i = 0; i < group.length; i++) {
                    DevMatrix m = group[i];
                    qkvOuts[i] = m == b.wq() ? q : m == b.wk() ? k : v;
                }
                matvecs(count, CudaKernels.STORE, group, x, qkvOuts, b.attnNorm());
            }
        }
        if (step.phase() != Phase.BATCH) {
            attention(b, (CudaKvCache) step.cache(0), params, 0, count);
        } else {
            for (int s = 0; s < count; s++) { // each sequence attends to its own cache, at its own position
                attention(b, (CudaKvCache) step.cache(s), seqParams.withByteOffset(16L * s), s, 1);
            }
        }
        if (gemm) {
            kernels.f32ToF16(stream, attn, a16, (long) count * c.queryDim());
            gemm(b.wo(), x, count, true);
        } else {
            one[0] = b.wo();
            oneOut[0] = x;
            matvecs(count, CudaKernels.ADD, one, attn, oneOut, null);
        }

        // feed-forward
        if (gemm) {
            kernels.rmsnorm(stream, x, b.ffnNorm(), null, a16, dim, eps, count);
            gemm(b.gate(), hb, count, false);
            gemm(b.up(), hb2, count, false);
            kernels.swigluF16(stream, hb, hb2, a16, (long) count * c.feedForwardLength());
            gemm(b.down(), x, count, true);
        } else {
            // the FFN norm is fused into the gate/up projection
            if (b.gate().shape().type() != b.up().shape().type()) {
                throw new IllegalStateException("gate and up projections of block " + b.index() + " differ in format ("
                        + b.gate().shape().type() + ", " + b.up().shape().type() + ")");
            }
            gateUp[0] = b.gate();
            gateUp[1] = b.up();
            oneOut[0] = hb;
            matvecs(count, CudaKernels.SWIGLU, gateUp, x, oneOut, b.ffnNorm());
            one[0] = b.down();
            oneOut[0] = x;
            matvecs(count, CudaKernels.ADD, one, hb, oneOut, null);
        }
    }

    @Override
    public void runHeadSlice(BoundUnit unit, Step step) {
        OutputSlice slice = (OutputSlice) unit;
        int outputs = step.outputs();
        int vocab = config.vocabularySize();
        CUdeviceptr last = x.withByteOffset(4L * (step.rows() - outputs) * config.embeddingLength());
        DevMatrix m = slice.matrix();
        one[0] = m;
        if (slice.whole()) {
            oneOut[0] = logitsDev;
            matvecs(outputs, CudaKernels.STORE, one, last, oneOut, outputNorm);
        } else if (outputs == 1) {
            oneOut[0] = logitsDev.withByteOffset(4L * slice.firstRow());
            matvecs(1, CudaKernels.STORE, one, last, oneOut, outputNorm);
        } else {
            // [outputs × sliceRows] → columns firstRow.. of the [outputs × vocab] logits
            oneOut[0] = sliceOut;
            matvecs(outputs, CudaKernels.STORE, one, last, oneOut, outputNorm);
            sliceCopy.srcDevice = sliceOut;
            sliceCopy.srcPitch = 4L * m.shape().rows();
            sliceCopy.dstDevice = logitsDev.withByteOffset(4L * slice.firstRow());
            sliceCopy.dstPitch = 4L * vocab;
            sliceCopy.WidthInBytes = 4L * m.shape().rows();
            sliceCopy.Height = outputs;
            cuMemcpy2DAsync(sliceCopy, stream);
        }
    }

    @Override
    public void endStep(Step step) {
        cuMemcpyDtoHAsync(logitsHost, logitsDev, 4L * step.outputs() * config.vocabularySize(), stream);
    }

    @Override
    public void finishStep() {
        cuStreamSynchronize(stream);
    }

    @Override
    public void readLogits(int row, float[] logits) {
        int vocab = config.vocabularySize();
        logitsView.get(row * vocab, logits, 0, vocab);
    }

    @Override
    public boolean runAsGraph(KvCache kvCache, Runnable enqueue) {
        CudaKvCache cache = (CudaKvCache) kvCache;
        boolean captured = false;
        if (cache.decodeGraph == null) {
            CUgraph graph = new CUgraph();
            cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
            try {
                enqueue.run();
            } finally {
                cuStreamEndCapture(stream, graph);
            }
            CUgraphExec exec = new CUgraphExec();
            try {
                cuGraphInstantiate(exec, graph, 0);
            } finally {
                cuGraphDestroy(graph);
            }
            cache.decodeGraph = exec;
            captured = true;
        }
        cuGraphLaunch(cache.decodeGraph, stream);
        return captured;
    }

    @Override
    public boolean graphs() {
        return options.graphs();
    }

    // ------------------------------------------------------------------ hand-off

    @Override
    public void activationToHost(float[] row) {
        int dim = config.embeddingLength();
        cuMemcpyDtoHAsync(xHost, x, 4L * dim, stream);
        cuStreamSynchronize(stream);
        xView.get(0, row, 0, dim);
    }

    @Override
    public void activationFromHost(float[] row) {
        int dim = config.embeddingLength();
        xView.put(0, row, 0, dim);
        upload(x, xMapped, xHost, 0, 4L * dim);
    }

    @Override
    public void writeKvRow(KvCache kvCache, int block, int position, float[] key, float[] value) {
        CudaKvCache cache = (CudaKvCache) kvCache;
        int kvDim = config.keyValueDim();
        // each block has its own part of the buffer: the copy kernel of an earlier block may not have read its part yet
        int at = 2 * block * kvDim;
        for (int j = 0; j < kvDim; j++) {
            kvUpView.put(at + j, Float.floatToFloat16(key[j]));
            kvUpView.put(at + kvDim + j, Float.floatToFloat16(value[j]));
        }
        upload(cache.keys(block).withByteOffset(2L * position * kvDim), kvUpMapped, kvUpHost, 2L * at, 2L * kvDim);
        upload(cache.values(block).withByteOffset(2L * position * kvDim), kvUpMapped, kvUpHost, 2L * (at + kvDim),
                2L * kvDim);
    }

    private MemorySegment kvDown;

    @Override
    public MemorySegment kvStaging(long bytes) {
        if (kvDown != null) {
            throw new IllegalStateException("the K/V staging buffer is allocated once");
        }
        device.makeCurrent();
        cuMemHostAlloc(kvDownHost, bytes, 0);
        kvDown = MemorySegment.ofBuffer(kvDownHost.getByteBuffer(0, bytes));
        return kvDown;
    }

    @Override
    public void copyKvToHost(KvCache kvCache, int block, int from, int count, long keysAt, long valuesAt) {
        CudaKvCache cache = (CudaKvCache) kvCache;
        long rowBytes = 2L * config.keyValueDim();
        cuMemcpyDtoHAsync(kvDownHost.withByteOffset(keysAt), cache.keys(block).withByteOffset(from * rowBytes),
                count * rowBytes, stream);
        cuMemcpyDtoHAsync(kvDownHost.withByteOffset(valuesAt), cache.values(block).withByteOffset(from * rowBytes),
                count * rowBytes, stream);
    }

    /**
     * Copies {@code bytes} from pinned host buffer {@code host} (at {@code offset}) to {@code dst} on the compute
     * stream. Small transfers are read by a kernel through the buffer's mapped address ({@code mapped}): the copy
     * engine may be busy for milliseconds with a streamed unit issued earlier, and a cuMemcpy would queue behind
     * it, stalling the step (measured on the lent H200: ~11 ms per step with CPU blocks, before this).
     */
    private void upload(CUdeviceptr dst, CUdeviceptr mapped, Pointer host, long offset, long bytes) {
        if (bytes <= SMALL_UPLOAD_BYTES && bytes % 4 == 0) {
            kernels.copyWords(stream, mapped.withByteOffset(offset), dst, bytes / 4);
        } else {
            cuMemcpyHtoDAsync(dst, host.withByteOffset(offset), bytes, stream);
        }
    }

    // ------------------------------------------------------------------ kernels of a block

    /**
     * RoPE, the KV-cache write and attention for {@code count} tokens starting at token row {@code row}, all of one
     * sequence whose positions come from {@code p}.
     */
    private void attention(DevBlock b, CudaKvCache cache, CUdeviceptr p, int row, int count) {
        ModelConfig c = config;
        int l = b.index();
        CUdeviceptr kc = cache.keys(l);
        CUdeviceptr vc = cache.values(l);
        CUdeviceptr qr = q.withByteOffset(4L * row * c.queryDim());
        CUdeviceptr kr = k.withByteOffset(4L * row * c.keyValueDim());
        CUdeviceptr vr = v.withByteOffset(4L * row * c.valueDim());
        CUdeviceptr out = attn.withByteOffset(4L * row * c.queryDim());
        kernels.qkvPost(stream, qr, kr, vr, b.qBias(), b.kBias(), b.vBias(), b.qNorm(), b.kNorm(), invFreq,
                c.ropeDimensions(), c.ropeLayout() == io.offload4j.model.RopeLayout.HALVES, c.rmsNormEps(), p, kc, vc,
                c.headCount(), c.headCountKv(), c.headDim(), count);
        if (count == 1) {
            kernels.attnDecode(stream, qr, kc, vc, p, partial, counters, out, c.headCount(), c.headCountKv(),
                    c.headDim(), splits);
        } else {
            kernels.attnPrefill(stream, qr, kc, vc, p, out, count, c.headCount(), c.headCountKv(), c.headDim());
        }
    }

    /** out (+)= a16 · W^T on tensor cores, W dequantized to fp16 first unless it already is. */
    private void gemm(DevMatrix w, CUdeviceptr out, int count, boolean accumulate) {
        GgmlTypeAndShape s = w.shape();
        CUdeviceptr b = w.ptr();
        if (s.type() != io.offload4j.gguf.GgmlType.F16) {
            kernels.dequantF16(stream, s.type(), w.ptr(), s.rowBytes(), s.rows(), s.cols(), w16);
            b = w16;
        }
        kernels.gemm(stream, a16, b, out, count, s.rows(), s.cols(), accumulate);
    }

    /**
     * Matrix-vector products over {@code count} tokens, at most 8 per launch. {@code mats} share a format
     * and row length; in SWIGLU mode they are (gate, up) and {@code outs} holds the one output. A non-null
     * {@code norm} RMS-normalises the input on the fly.
     */
    private void matvecs(int count, int mode, DevMatrix[] mats, CUdeviceptr in, CUdeviceptr[] outs,
                         CUdeviceptr norm) {
        GgmlTypeAndShape m0 = mats[0].shape();
        int cols = m0.cols();
        boolean vector = CudaKernels.vectorisable(m0.type(), cols);
        boolean swiglu = mode == CudaKernels.SWIGLU;
        int n = mats.length;
        for (int t0 = 0; t0 < count; ) {
            int left = count - t0;
            int nt = !vector ? Math.min(8, left) : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            CUdeviceptr xin = in.withByteOffset(4L * t0 * cols);
            CUdeviceptr y0 = outs[0].withByteOffset(4L * t0 * m0.rows());
            CUdeviceptr y1 = !swiglu && n > 1 ? outs[1].withByteOffset(4L * t0 * mats[1].shape().rows()) : null;
            CUdeviceptr y2 = n > 2 ? outs[2].withByteOffset(4L * t0 * mats[2].shape().rows()) : null;
            kernels.matvec(stream, m0.type(), nt, mode, mats[0].ptr(), n > 1 ? mats[1].ptr() : null,
                    n > 2 ? mats[2].ptr() : null, m0.rows(), swiglu ? 0 : n > 1 ? mats[1].shape().rows() : 0,
                    n > 2 ? mats[2].shape().rows() : 0, m0.rowBytes(), cols, xin, y0, y1, y2, norm,
                    config.rmsNormEps());
            t0 += nt;
        }
    }

    // ------------------------------------------------------------------ memory

    @Override
    public long workspaceBytes() {
        return deviceBytes;
    }

    @Override
    public void makeCurrent() {
        device.makeCurrent();
    }

    /** Device memory with 16 bytes to spare: decoders of 2-byte aligned blocks read whole aligned words. */
    private CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        cuMemAlloc(p, bytes + CudaKernels.PADDING);
        allocations.add(p);
        deviceBytes += bytes;
        return p;
    }

    private CUdeviceptr uploadFloats(float[] values) {
        if (values == null) {
            return null;
        }
        CUdeviceptr p = alloc(4L * values.length);
        cuMemcpyHtoD(p, Pointer.to(values), 4L * values.length);
        return p;
    }

    private CUdeviceptr uploadDoubles(double[] values) {
        CUdeviceptr p = alloc(8L * Math.max(1, values.length));
        if (values.length > 0) {
            cuMemcpyHtoD(p, Pointer.to(values), 8L * values.length);
        }
        return p;
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        device.makeCurrent();
        for (CUdeviceptr p : allocations) {
            cuMemFree(p);
        }
        allocations.clear();
        for (Pointer p : new Pointer[] {paramsHost, seqParamsHost, xHost, kvUpHost, kvDownHost, logitsHost}) {
            freeHost(p);
        }
        try {
            cuStreamDestroy(stream);
        } catch (RuntimeException ignored) {
            // never created (preparation failed before it)
        }
    }

    private static void freeHost(Pointer p) {
        if (p.equals(new Pointer())) {
            return;  // never allocated
        }
        try {
            cuMemFreeHost(p);
        } catch (RuntimeException ignored) {
            // never allocated (preparation failed before it)
        }
    }
}

package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuGraphDestroy;
import static jcuda.driver.JCudaDriver.cuGraphInstantiate;
import static jcuda.driver.JCudaDriver.cuGraphLaunch;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoHAsync;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuStreamBeginCapture;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamEndCapture;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.RopeLayout;
import io.offload4j.model.RopeScaling;
import io.offload4j.model.Weight;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUstreamCaptureMode;
import jcuda.driver.CUstream_flags;

/**
 * The transformer forward pass on one GPU, with the same semantics as the CPU pass (same order of
 * operations, same RoPE angles, same RMSNorm formula), so that the two agree to rounding.
 *
 * <p>Everything lives in device memory allocated here, at preparation: the weights in their GGUF
 * formats, norm weights and biases as fp32, activations for {@code maxChunk} tokens, an fp16 scratch for
 * dequantized weights, and pinned host buffers for the per-call parameters and the logits. A forward
 * call allocates nothing, on either side.
 *
 * <p>Decode (one token) runs the matrix-vector kernels and the split-K attention kernel; the whole step,
 * from copying the token id up to copying the logits back, is captured once per KV cache as a CUDA
 * graph and replayed, which removes ~250 kernel launches' worth of driver overhead per token. The token
 * position is read by the kernels from the device parameter block, so the same graph serves every
 * position. Prefill chunks of at least {@code gemmMinTokens} tokens dequantize each weight to fp16 and
 * multiply on tensor cores; shorter chunks use the matrix-vector kernels on up to 8 tokens at a time,
 * which read each weight once per 8 tokens.
 */
final class CudaForwardPass implements ForwardPass {

    /** A weight matrix in device memory, in its file format. */
    record DevMatrix(String name, GgmlType type, int rows, int cols, long rowBytes, CUdeviceptr ptr) {}

    /** One transformer block's device weights; optional tensors are null. */
    record DevBlock(CUdeviceptr attnNorm, DevMatrix wq, DevMatrix wk, DevMatrix wv, DevMatrix wo, CUdeviceptr qBias,
                    CUdeviceptr kBias, CUdeviceptr vBias, CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr ffnNorm,
                    DevMatrix gate, DevMatrix up, DevMatrix down, List<DevMatrix[]> qkvGroups, boolean gemmOk) {}

    private final CudaDevice device;
    private final CudaKernels kernels;
    private final ModelConfig config;
    private final int maxContext;
    private final int maxChunk;
    private final boolean useGraphs;
    private final int gemmMinTokens;
    private final int splits;
    private final CUstream stream = new CUstream();
    private final List<CUdeviceptr> allocations = new ArrayList<>();
    private final Map<Weight, DevMatrix> uploaded = new IdentityHashMap<>();
    private long deviceBytes;
    private long weightBytes;

    private final DevMatrix embedding;
    private final DevMatrix output;
    private final CUdeviceptr outputNorm;
    private final CUdeviceptr invFreq;
    private final List<DevBlock> blocks = new ArrayList<>();

    // activations, token-major, for up to maxChunk tokens
    private final CUdeviceptr params;
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
    // pinned host memory
    private final Pointer paramsHost = new Pointer();
    private final Pointer logitsHost = new Pointer();
    private final IntBuffer paramsView;
    private final FloatBuffer logitsView;
    private boolean closed;

    CudaForwardPass(CudaDevice device, CudaKernels kernels, Model model, int maxContext, int maxChunk) {
        if (maxContext < 1 || maxChunk < 1) {
            throw new IllegalArgumentException("maxContext and maxChunk must be positive");
        }
        this.device = device;
        this.kernels = kernels;
        this.config = model.config();
        this.maxContext = maxContext;
        this.maxChunk = maxChunk;
        this.useGraphs = !"false".equalsIgnoreCase(System.getProperty("offload4j.cuda.graphs", "true"));
        this.gemmMinTokens = Integer.getInteger("offload4j.cuda.gemmMinTokens", 16);
        ModelConfig c = config;
        checkSupported(model);
        this.splits = Math.clamp(2L * device.multiprocessors() / c.headCount(), 1, 32);
        device.makeCurrent();
        try {
            cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
            ModelWeights w = model.weights();
            long needed = w.totalMatrixBytes() + activationBytes(c, maxChunk, w);
            long free = device.freeMemory();
            if (needed > free - (256L << 20)) {
                throw new IllegalStateException(String.format("the model needs %.2f GiB of GPU memory (weights and"
                        + " activations, before any KV cache) but %s has %.2f GiB free; use a smaller quantization or"
                        + " --device cpu", needed / (double) (1L << 30), device.name(), free / (double) (1L << 30)));
            }
            embedding = upload(w.tokenEmbedding());
            output = upload(w.output());
            outputNorm = uploadFloats(w.outputNorm());
            invFreq = uploadDoubles(inverseFrequencies(c, w.ropeFrequencyFactors()));
            for (BlockWeights b : w.blocks()) {
                blocks.add(uploadBlock(b));
            }
            weightBytes = deviceBytes;

            int dim = c.embeddingLength();
            int ffn = c.feedForwardLength();
            int wide = Math.max(Math.max(dim, c.queryDim()), ffn);
            params = alloc(4L * (2 + maxChunk));
            x = alloc(4L * maxChunk * dim);
            q = alloc(4L * maxChunk * c.queryDim());
            k = alloc(4L * maxChunk * c.keyValueDim());
            v = alloc(4L * maxChunk * c.valueDim());
            attn = alloc(4L * maxChunk * c.queryDim());
            hb = alloc(4L * maxChunk * ffn);
            hb2 = alloc(4L * maxChunk * ffn);
            boolean gemm = maxChunk >= gemmMinTokens && blocks.stream().anyMatch(DevBlock::gemmOk);
            a16 = gemm ? alloc(2L * maxChunk * wide) : null;
            w16 = gemm ? alloc(2L * largestNonF16Matrix()) : null;
            partial = alloc(4L * CudaKernels.attnPartialFloats(c.headCount(), c.headDim(), splits));
            counters = alloc(4L * c.headCount());
            cuMemsetD8(counters, (byte) 0, 4L * c.headCount());
            logitsDev = alloc(4L * c.vocabularySize());
            cuMemHostAlloc(paramsHost, 4L * (2 + maxChunk), 0);
            cuMemHostAlloc(logitsHost, 4L * c.vocabularySize(), 0);
            paramsView = paramsHost.getByteBuffer(0, 4L * (2 + maxChunk)).order(ByteOrder.nativeOrder()).asIntBuffer();
            logitsView = logitsHost.getByteBuffer(0, 4L * c.vocabularySize()).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private static long activationBytes(ModelConfig c, int chunk, ModelWeights w) {
        long perToken = 4L * (c.embeddingLength() * 2L + c.queryDim() * 3L + c.keyValueDim() * 2L
                + c.feedForwardLength() * 2L) + 2L * Math.max(c.feedForwardLength(), c.embeddingLength());
        long largest = 0;
        for (BlockWeights b : w.blocks()) {
            for (Weight m : new Weight[] {b.wq(), b.wk(), b.wv(), b.wo(), b.wGate(), b.wUp(), b.wDown()}) {
                largest = Math.max(largest, 2L * m.rows() * m.cols());
            }
        }
        return perToken * chunk + largest + 4L * c.vocabularySize();
    }

    private void checkSupported(Model model) {
        ModelConfig c = config;
        int hd = c.headDim();
        if (hd % 8 != 0 || hd > CudaKernels.MAX_HEAD_DIM) {
            throw new ModelFormatException(model.path(), "head size " + hd + ": the CUDA attention kernels need a"
                    + " multiple of 8 up to " + CudaKernels.MAX_HEAD_DIM + "; use --device cpu");
        }
        ModelWeights w = model.weights();
        List<Weight> all = new ArrayList<>(List.of(w.tokenEmbedding(), w.output()));
        for (BlockWeights b : w.blocks()) {
            all.addAll(List.of(b.wq(), b.wk(), b.wv(), b.wo(), b.wGate(), b.wUp(), b.wDown()));
        }
        for (Weight m : all) {
            if (!CudaKernels.SUPPORTED.contains(m.type())) {
                throw new ModelFormatException(model.path(), "tensor '" + m.name() + "' is stored as " + m.type()
                        + ", which the CUDA backend cannot compute with; supported: " + CudaKernels.SUPPORTED
                        + " (use --device cpu, or re-quantize, e.g. to Q4_K_M or Q8_0)");
            }
        }
    }

    /** θ_i = base^(-2i/d), divided by linear scaling and the Llama 3.1 frequency factors, as on the CPU. */
    static double[] inverseFrequencies(ModelConfig c, float[] factors) {
        int half = c.ropeDimensions() / 2;
        double[] f = new double[half];
        double linear = c.ropeScaling().type() == RopeScaling.Type.LINEAR ? c.ropeScaling().factor() : 1.0;
        for (int i = 0; i < half; i++) {
            f[i] = Math.pow(c.ropeFreqBase(), -2.0 * i / c.ropeDimensions()) / linear;
            if (factors != null) {
                f[i] /= factors[i];
            }
        }
        return f;
    }

    // ------------------------------------------------------------------ device memory

    /** Device memory with 16 bytes to spare: decoders of 2-byte aligned blocks read whole aligned words. */
    private CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        cuMemAlloc(p, bytes + CudaKernels.PADDING);
        allocations.add(p);
        deviceBytes += bytes;
        return p;
    }

    private DevMatrix upload(Weight w) {
        DevMatrix d = uploaded.get(w);
        if (d != null) {
            return d;
        }
        MemorySegment src = w.data();
        long size = src.byteSize();
        CUdeviceptr p = alloc(size);
        long slice = 1L << 30;  // ByteBuffer views are limited to 2 GiB
        for (long off = 0; off < size; off += slice) {
            long n = Math.min(slice, size - off);
            cuMemcpyHtoD(p.withByteOffset(off), Pointer.to(src.asSlice(off, n).asByteBuffer()), n);
        }
        d = new DevMatrix(w.name(), w.type(), w.rows(), w.cols(), w.rowBytes(), p);
        uploaded.put(w, d);
        return d;
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

    private DevBlock uploadBlock(BlockWeights b) {
        DevMatrix wq = upload(b.wq());
        DevMatrix wk = upload(b.wk());
        DevMatrix wv = upload(b.wv());
        DevMatrix wo = upload(b.wo());
        DevMatrix gate = upload(b.wGate());
        DevMatrix up = upload(b.wUp());
        DevMatrix down = upload(b.wDown());
        // Q, K and V of one format run as one launch; a mixed block (Q4_K_M keeps V in Q6_K in some
        // blocks) groups by format.
        List<DevMatrix[]> groups = new ArrayList<>();
        List<DevMatrix> pending = new ArrayList<>(List.of(wq, wk, wv));
        while (!pending.isEmpty()) {
            GgmlType t = pending.getFirst().type();
            List<DevMatrix> same = pending.stream().filter(m -> m.type() == t).toList();
            groups.add(same.toArray(DevMatrix[]::new));
            pending.removeAll(same);
        }
        boolean gemmOk = true;
        for (DevMatrix m : new DevMatrix[] {wq, wk, wv, wo, gate, up, down}) {
            gemmOk &= CudaKernels.gemmShapeOk(m.rows(), m.cols()) && CudaKernels.vectorisable(m.type(), m.cols());
        }
        return new DevBlock(uploadFloats(b.attentionNorm()), wq, wk, wv, wo, uploadFloats(b.qBias()),
                uploadFloats(b.kBias()), uploadFloats(b.vBias()), uploadFloats(b.qNorm()), uploadFloats(b.kNorm()),
                uploadFloats(b.ffnNorm()), gate, up, down, List.copyOf(groups), gemmOk);
    }

    private long largestNonF16Matrix() {
        long n = 1;
        for (DevBlock b : blocks) {
            for (DevMatrix m : new DevMatrix[] {b.wq(), b.wk(), b.wv(), b.wo(), b.gate(), b.up(), b.down()}) {
                if (m.type() != GgmlType.F16) {
                    n = Math.max(n, (long) m.rows() * m.cols());
                }
            }
        }
        return n;
    }

    void makeCurrent() {
        device.makeCurrent();
    }

    /** Bytes of weights in device memory. */
    long weightBytes() {
        return weightBytes;
    }

    /** Weight bytes one decode step reads: every block matrix and the output matrix. */
    long weightBytesPerToken() {
        long n = output.rows() * output.rowBytes();
        for (DevBlock b : blocks) {
            for (DevMatrix m : new DevMatrix[] {b.wq(), b.wk(), b.wv(), b.wo(), b.gate(), b.up(), b.down()}) {
                n += m.rows() * m.rowBytes();
            }
        }
        return n;
    }

    // ------------------------------------------------------------------ ForwardPass

    @Override
    public ModelConfig config() {
        return config;
    }

    @Override
    public int maxChunkTokens() {
        return maxChunk;
    }

    @Override
    public int maxContext() {
        return maxContext;
    }

    @Override
    public KvCache newKvCache(int capacity) {
        if (capacity < 1 || capacity > maxContext) {
            throw new IllegalArgumentException("KV cache capacity " + capacity + " outside 1.." + maxContext);
        }
        device.makeCurrent();
        return new CudaKvCache(this, config.blockCount(), capacity, config.keyValueDim());
    }

    @Override
    public void forward(KvCache kvCache, int[] tokens, int offset, int count, int startPos, float[] logits) {
        if (count < 1 || count > maxChunk) {
            throw new IllegalArgumentException("chunk of " + count + " tokens; this pass takes 1.." + maxChunk);
        }
        if (!(kvCache instanceof CudaKvCache cache) || cache.owner != this) {
            throw new IllegalArgumentException("the KV cache was not created by this forward pass");
        }
        if (startPos < 0 || startPos + count > cache.capacity()) {
            throw new IllegalArgumentException("positions " + startPos + ".." + (startPos + count - 1)
                    + " do not fit the KV cache of " + cache.capacity());
        }
        int vocab = config.vocabularySize();
        if (logits.length < vocab) {
            throw new IllegalArgumentException("logits array of " + logits.length + " < vocabulary " + vocab);
        }
        for (int t = 0; t < count; t++) {
            int id = tokens[offset + t];
            if (id < 0 || id >= vocab) {
                throw new IllegalArgumentException("token " + id + " outside the vocabulary 0.." + (vocab - 1));
            }
        }
        device.makeCurrent();
        paramsView.put(0, startPos);
        paramsView.put(1, count);
        for (int t = 0; t < count; t++) {
            paramsView.put(2 + t, tokens[offset + t]);
        }
        if (count == 1 && useGraphs) {
            if (cache.decodeGraph == null) {
                cache.decodeGraph = capture(cache);
            }
            cuGraphLaunch(cache.decodeGraph, stream);
        } else {
            enqueue(cache, count);
        }
        cuStreamSynchronize(stream);
        logitsView.get(0, logits, 0, vocab);
    }

    private CUgraphExec capture(CudaKvCache cache) {
        CUgraph graph = new CUgraph();
        cuStreamBeginCapture(stream, CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_RELAXED);
        try {
            enqueue(cache, 1);
        } finally {
            cuStreamEndCapture(stream, graph);
        }
        CUgraphExec exec = new CUgraphExec();
        try {
            cuGraphInstantiate(exec, graph, 0);
        } finally {
            cuGraphDestroy(graph);
        }
        return exec;
    }

    /** Everything one forward call does, on the stream: parameters in, logits out. */
    private void enqueue(CudaKvCache cache, int count) {
        ModelConfig c = config;
        int dim = c.embeddingLength();
        cuMemcpyHtoDAsync(params, paramsHost, 4L * (2 + count), stream);
        kernels.embed(stream, embedding.type(), embedding.ptr(), embedding.rowBytes(), dim, params, x, count);
        for (int l = 0; l < blocks.size(); l++) {
            block(l, blocks.get(l), cache, count);
        }
        CUdeviceptr last = x.withByteOffset(4L * (count - 1) * dim);
        matvecs(1, CudaKernels.STORE, new DevMatrix[] {output}, last, new CUdeviceptr[] {logitsDev}, outputNorm);
        cuMemcpyDtoHAsync(logitsHost, logitsDev, 4L * c.vocabularySize(), stream);
    }

    private void block(int l, DevBlock b, CudaKvCache cache, int count) {
        ModelConfig c = config;
        int dim = c.embeddingLength();
        float eps = c.rmsNormEps();
        boolean gemm = count >= gemmMinTokens && b.gemmOk() && a16 != null;
        CUdeviceptr kc = cache.keys(l);
        CUdeviceptr vc = cache.values(l);

        // attention
        if (gemm) {
            kernels.rmsnorm(stream, x, b.attnNorm(), null, a16, dim, eps, count);
            gemm(b.wq(), q, count, false);
            gemm(b.wk(), k, count, false);
            gemm(b.wv(), v, count, false);
        } else {
            // the attention norm is fused into the projections
            for (DevMatrix[] group : b.qkvGroups()) {
                CUdeviceptr[] outs = new CUdeviceptr[group.length];
                for (int i = 0; i < group.length; i++) {
                    DevMatrix m = group[i];
                    outs[i] = m == b.wq() ? q : m == b.wk() ? k : v;
                }
                matvecs(count, CudaKernels.STORE, group, x, outs, b.attnNorm());
            }
        }
        kernels.qkvPost(stream, q, k, v, b.qBias(), b.kBias(), b.vBias(), b.qNorm(), b.kNorm(), invFreq,
                c.ropeDimensions(), c.ropeLayout() == RopeLayout.HALVES, eps, params, kc, vc,
                c.headCount(), c.headCountKv(), c.headDim(), count);
        if (count == 1) {
            kernels.attnDecode(stream, q, kc, vc, params, partial, counters, attn, c.headCount(), c.headCountKv(),
                    c.headDim(), splits);
        } else {
            kernels.attnPrefill(stream, q, kc, vc, params, attn, count, c.headCount(), c.headCountKv(), c.headDim());
        }
        if (gemm) {
            kernels.f32ToF16(stream, attn, a16, (long) count * c.queryDim());
            gemm(b.wo(), x, count, true);
        } else {
            matvecs(count, CudaKernels.ADD, new DevMatrix[] {b.wo()}, attn, new CUdeviceptr[] {x}, null);
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
            if (b.gate().type() == b.up().type()) {
                matvecs(count, CudaKernels.SWIGLU, new DevMatrix[] {b.gate(), b.up()}, x, new CUdeviceptr[] {hb},
                        b.ffnNorm());
            } else {
                throw new IllegalStateException("gate and up projections of block " + l + " differ in format ("
                        + b.gate().type() + ", " + b.up().type() + ")");
            }
            matvecs(count, CudaKernels.ADD, new DevMatrix[] {b.down()}, hb, new CUdeviceptr[] {x}, null);
        }
    }

    /** out (+)= a16 · W^T on tensor cores, W dequantized to fp16 first unless it already is. */
    private void gemm(DevMatrix w, CUdeviceptr out, int count, boolean accumulate) {
        CUdeviceptr b = w.ptr();
        if (w.type() != GgmlType.F16) {
            kernels.dequantF16(stream, w.type(), w.ptr(), w.rowBytes(), w.rows(), w.cols(), w16);
            b = w16;
        }
        kernels.gemm(stream, a16, b, out, count, w.rows(), w.cols(), accumulate);
    }

    /**
     * Matrix-vector products over {@code count} tokens, at most 8 per launch. {@code mats} share a format
     * and row length; in SWIGLU mode they are (gate, up) and {@code outs} holds the one output. A non-null
     * {@code norm} RMS-normalises the input on the fly.
     */
    private void matvecs(int count, int mode, DevMatrix[] mats, CUdeviceptr in, CUdeviceptr[] outs,
                         CUdeviceptr norm) {
        DevMatrix m0 = mats[0];
        int cols = m0.cols();
        boolean vector = CudaKernels.vectorisable(m0.type(), cols);
        boolean swiglu = mode == CudaKernels.SWIGLU;
        for (int t0 = 0; t0 < count; ) {
            int left = count - t0;
            int nt = !vector ? Math.min(8, left) : left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
            CUdeviceptr xin = in.withByteOffset(4L * t0 * cols);
            CUdeviceptr y0 = outs[0].withByteOffset(4L * t0 * m0.rows());
            CUdeviceptr y1 = !swiglu && mats.length > 1 ? outs[1].withByteOffset(4L * t0 * mats[1].rows()) : null;
            CUdeviceptr y2 = mats.length > 2 ? outs[2].withByteOffset(4L * t0 * mats[2].rows()) : null;
            kernels.matvec(stream, m0.type(), nt, mode, m0.ptr(), mats.length > 1 ? mats[1].ptr() : null,
                    mats.length > 2 ? mats[2].ptr() : null, m0.rows(),
                    swiglu ? 0 : mats.length > 1 ? mats[1].rows() : 0, mats.length > 2 ? mats[2].rows() : 0,
                    m0.rowBytes(), cols, xin, y0, y1, y2, norm, config.rmsNormEps());
            t0 += nt;
        }
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
        freeHost(paramsHost);
        freeHost(logitsHost);
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

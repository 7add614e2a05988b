package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.CU_MEMHOSTALLOC_DEVICEMAP;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemHostGetDevicePointer;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.gguf.GgmlType;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.RopeFrequencies;
import io.offload4j.model.Weight;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.IntBuffer;
import java.nio.ShortBuffer;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * Everything a model on the GPU holds besides its unit weights and KV caches, allocated once at load so that a step
 * allocates nothing: the compute stream, activations for {@code rows} tokens (token-major), an fp16 scratch for
 * dequantized weights and tensor-core operands, attention scratch, the logits, each block's norm and bias vectors, and
 * the pinned host buffers a step's inputs and outputs pass through. The small ones are also mapped into the GPU's
 * address space, so that {@link #upload} can let the SMs read them (see there why).
 */
final class CudaWorkspace implements AutoCloseable {

    /** Uploads up to this size are copied by the SMs from mapped memory; larger ones by the copy engine. */
    private static final long SMALL_UPLOAD_BYTES = 256 << 10;

    final CUstream stream = new CUstream();
    final int rows;
    private final CudaKernels kernels;
    private final String device;
    private final List<CUdeviceptr> allocations = new ArrayList<>();
    private long deviceBytes;

    final CudaUnits.BlockNorms[] norms;
    final CUdeviceptr outputNorm;
    final CUdeviceptr invFreq;
    /** cos and sin are multiplied by this (RopeFrequencies.magnitude: LongRoPE's attention factor, else 1). */
    final float ropeMagnitude;
    /** Sliding-window blocks' RoPE frequencies (Gemma 3's local base); {@link #invFreq} when there are none. */
    final CUdeviceptr invFreqSliding;
    // activations, token-major, for up to `rows` tokens
    final CUdeviceptr params;      // {start position, rows, token...}
    final CUdeviceptr seqParams;   // per sequence of a batch: {position, 1, token, 0}
    final CUdeviceptr x;
    final CUdeviceptr q;
    final CUdeviceptr k;
    final CUdeviceptr v;
    final CUdeviceptr attn;
    final CUdeviceptr hb;
    final CUdeviceptr hb2;
    /**
     * A short step's activations quantized to 8 bits, up to CudaInt8Kernels.MAX_STEP_TOKENS rows (values, a scale per
     * 32, a sum per 16; matvec_x8.cuh).
     */
    final CUdeviceptr x8q;
    final CUdeviceptr x8d;
    final CUdeviceptr x8s;
    final CUdeviceptr a16;         // null without the tensor-core path
    final CUdeviceptr w16;
    final CUdeviceptr partial;
    final CUdeviceptr counters;   // attention splits: heads × rows (a batch's sequences each count their heads)
    /** The small-batch GEMM's split-K partial tiles and per-tile counters; null without the tensor-core path. */
    final CUdeviceptr gemmPartial;
    final CUdeviceptr gemmCounters;
    /**
     * A batched decode step's tables, per block l (of all the model's, at l × stride): the device addresses of each
     * sequence's keys and values ({@code [2B]} longs), then after every block's, each sequence's ring ({@code [B]}
     * ints); written by {@code CudaModel.stageInputs} for each batched step, read by qkv_post_batch and
     * attn_decode_batch.
     */
    final CUdeviceptr batchTables;
    final CUdeviceptr logits;
    /** The sparse FFN's buffers of a mixture of experts; null for a dense model. */
    final CudaMoeBuffers moe;
    private CUdeviceptr sliceOut;  // one output slice's logits for a batch, before the strided copy
    private int sliceOutRows;
    // pinned host memory, and the same buffers as the GPU addresses them (for uploads the SMs read themselves)
    final Pointer paramsHost = new Pointer();
    final Pointer seqParamsHost = new Pointer();
    final Pointer batchTablesHost = new Pointer();
    final Pointer xHost = new Pointer();
    final Pointer kvUpHost = new Pointer();   // fp16 K/V rows computed elsewhere, a region per block
    final Pointer kvDownHost = new Pointer(); // fp16 K/V rows on their way to a host cache (allocated on demand)
    final Pointer logitsHost = new Pointer();
    final CUdeviceptr paramsMapped = new CUdeviceptr();
    final CUdeviceptr seqParamsMapped = new CUdeviceptr();
    final CUdeviceptr batchTablesMapped = new CUdeviceptr();
    final CUdeviceptr xMapped = new CUdeviceptr();
    final CUdeviceptr kvUpMapped = new CUdeviceptr();
    final IntBuffer paramsView;
    final IntBuffer seqParamsView;
    final java.nio.LongBuffer batchKvView;
    final IntBuffer batchRingsView;
    final FloatBuffer xView;
    final FloatBuffer logitsView;
    final ShortBuffer kvUpView;
    private boolean closed;

    CudaWorkspace(CudaKernels kernels, Model model, AcceleratorOptions options, int splits, String device) {
        this.kernels = kernels;
        this.device = device;
        this.rows = options.rows();
        ModelConfig c = model.config();
        ModelWeights w = model.weights();
        try {
            cuStreamCreate(stream, CUstream_flags.CU_STREAM_NON_BLOCKING);
            norms = new CudaUnits.BlockNorms[c.blockCount()];
            for (int l = 0; l < norms.length; l++) {
                BlockWeights b = w.blocks().get(l);
                norms[l] = new CudaUnits.BlockNorms(uploadFloats(b.attentionNorm()), uploadFloats(b.qBias()),
                        uploadFloats(b.kBias()), uploadFloats(b.vBias()), uploadFloats(b.qNorm()),
                        uploadFloats(b.kNorm()), uploadFloats(b.ffnNorm()), uploadFloats(b.attentionPostNorm()),
                        uploadFloats(b.ffnPostNorm()));
            }
            outputNorm = uploadFloats(w.outputNorm());
            invFreq = uploadDoubles(RopeFrequencies.inverse(c, w, options.maxContext()));
            ropeMagnitude = RopeFrequencies.magnitude(w);
            invFreqSliding = c.traits().hasSlidingWindow()
                    ? uploadDoubles(RopeFrequencies.inverseSliding(c, w, options.maxContext())) : invFreq;
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
            int widest8 = widest8(c);
            long int8Values = (long) Math.min(rows, CudaInt8Kernels.MAX_STEP_TOKENS) * widest8;
            x8q = alloc(int8Values);
            x8d = alloc(4L * (int8Values / 32));
            x8s = alloc(4L * (int8Values / 16));
            boolean gemm = usesGemm(w, options) || usesSmallGemm(w, options);
            a16 = gemm ? alloc(2L * rows * widest(c)) : null;
            w16 = gemm ? alloc(2L * largestNonF16Matrix(w)) : null;
            partial = alloc(4L * kernels.batchAttentionPartialFloats(c.headCount(), c.headCountKv(), c.headDim(),
                    rows, splits));
            counters = alloc(4L * c.headCount() * rows);
            cuMemsetD8(counters, (byte) 0, 4L * c.headCount() * rows);
            boolean small = usesSmallGemm(w, options);
            gemmPartial = small ? alloc(4L * CudaKernels.smallGemmPartialFloats(CudaKernels.SMALL_GEMM_TARGET_BLOCKS))
                    : null;
            int tiles = smallGemmMaxTiles(c);
            gemmCounters = small ? alloc(4L * tiles) : null;
            if (small) {
                cuMemsetD8(gemmCounters, (byte) 0, 4L * tiles);
            }
            batchTables = alloc(batchTableBytes(c, rows));
            logits = alloc(4L * rows * c.vocabularySize());
            moe = c.moe() == null ? null : new CudaMoeBuffers(model, rows, this::alloc, this::uploadFloats);
            cuMemHostAlloc(paramsHost, 4L * (2 + rows), CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostAlloc(seqParamsHost, 16L * rows, CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostAlloc(batchTablesHost, batchTableBytes(c, rows), CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostAlloc(xHost, 4L * rows * dim, CU_MEMHOSTALLOC_DEVICEMAP);
            // fp16 keys and values: a region per (block, position mod KV_ROWS_PER_STEP), see CudaModel.writeKvRow
            long kvUpBytes = 4L * c.blockCount() * AcceleratorModel.KV_ROWS_PER_STEP * c.keyValueDim();
            cuMemHostAlloc(kvUpHost, kvUpBytes, CU_MEMHOSTALLOC_DEVICEMAP);
            cuMemHostGetDevicePointer(paramsMapped, paramsHost, 0);
            cuMemHostGetDevicePointer(seqParamsMapped, seqParamsHost, 0);
            cuMemHostGetDevicePointer(batchTablesMapped, batchTablesHost, 0);
            cuMemHostGetDevicePointer(xMapped, xHost, 0);
            cuMemHostGetDevicePointer(kvUpMapped, kvUpHost, 0);
            cuMemHostAlloc(logitsHost, 4L * rows * c.vocabularySize(), 0);
            paramsView = paramsHost.getByteBuffer(0, 4L * (2 + rows)).order(ByteOrder.nativeOrder()).asIntBuffer();
            seqParamsView = seqParamsHost.getByteBuffer(0, 16L * rows).order(ByteOrder.nativeOrder()).asIntBuffer();
            batchKvView = batchTablesHost.getByteBuffer(0, batchTableBytes(c, rows)).order(ByteOrder.nativeOrder())
                    .asLongBuffer();
            batchRingsView = batchTablesHost.getByteBuffer(0, batchTableBytes(c, rows)).order(ByteOrder.nativeOrder())
                    .asIntBuffer();
            xView = xHost.getByteBuffer(0, 4L * rows * dim).order(ByteOrder.nativeOrder()).asFloatBuffer();
            kvUpView = kvUpHost.getByteBuffer(0, kvUpBytes).order(ByteOrder.nativeOrder()).asShortBuffer();
            logitsView = logitsHost.getByteBuffer(0, 4L * rows * c.vocabularySize()).order(ByteOrder.nativeOrder())
                    .asFloatBuffer();
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    /**
     * Device bytes of the workspace for {@code options}, estimated before anything is allocated (the weight budget
     * is set from it): per row the activations, fp16 scratch and logits, plus the largest matrix dequantized to fp16.
     */
    static long estimate(Model model, AcceleratorOptions options) {
        ModelConfig c = model.config();
        long perToken = 4L * (c.embeddingLength() * 2L + c.queryDim() * 3L + c.keyValueDim() * 2L
                + c.feedForwardLength() * 2L) + 2L * Math.max(c.feedForwardLength(), c.embeddingLength())
                + 8L * c.vocabularySize();
        long largest = 0;
        for (BlockWeights b : model.weights().blocks()) {
            for (Weight m : b.matrices()) {
                largest = Math.max(largest, 2L * m.rows() * m.cols());
            }
        }
        long small = 4L * CudaKernels.smallGemmPartialFloats(CudaKernels.SMALL_GEMM_TARGET_BLOCKS)
                + 4L * smallGemmMaxTiles(c);
        return perToken * options.rows() + largest + CudaMoeBuffers.estimate(c, options.rows()) + small
                + batchTableBytes(c, options.rows()) + 4L * c.headCount() * options.rows()
                + 2L * Math.min(options.rows(), CudaInt8Kernels.MAX_STEP_TOKENS) * widest8(c); // a short step's 8-bit
                // activations: 1 + 1/8 + 1/4 bytes a value
    }

    /** Bytes of the batch tables for batches of up to {@code rows} sequences: 16 + 4 per sequence and block. */
    static long batchTableBytes(ModelConfig c, int rows) {
        return 20L * c.blockCount() * rows;
    }

    /** Byte offset of block l's key/value addresses in the batch tables of a {@code batch}-sequence step. */
    static long batchKvOffset(int block, int batch) {
        return 16L * block * batch;
    }

    /** Byte offset of block l's rings in the batch tables of a {@code batch}-sequence step (after every block's addresses). */
    static long batchRingsOffset(ModelConfig c, int block, int batch) {
        return 16L * c.blockCount() * batch + 4L * block * batch;
    }

    /**
     * The most output tiles ({@link CudaKernels#SMALL_GEMM_N} features) one small-GEMM launch has: Q, K and V
     * together, gate and up together, or the output head.
     */
    private static int smallGemmMaxTiles(ModelConfig c) {
        long widest = Math.max(Math.max((long) c.queryDim() + 2L * c.keyValueDim(), 2L * c.feedForwardLength()),
                Math.max(c.embeddingLength(), c.vocabularySize()));
        return Math.toIntExact(widest / CudaKernels.SMALL_GEMM_N + 1);
    }

    /** Whether batched steps can take the small-batch GEMM: some block's every matrix has a shape it takes. */
    private static boolean usesSmallGemm(ModelWeights w, AcceleratorOptions options) {
        if (options.gemmMinTokens() > CudaKernels.SMALL_GEMM_MAX_ROWS || options.rows() < options.gemmMinTokens()) {
            return false;
        }
        for (BlockWeights b : w.blocks()) {
            // a sparse block's attention part takes it (Q, K, V, O come first); its experts never do
            Weight[] m = b.isSparse() ? java.util.Arrays.copyOf(b.matrices(), 4) : b.matrices();
            if (CudaUnits.smallGemmOk(m)) {
                return true;
            }
        }
        return false;
    }

    /** Whether steps of many rows can run on tensor cores: some block's every matrix has a GEMM-able shape. */
    private static boolean usesGemm(ModelWeights w, AcceleratorOptions options) {
        if (options.rows() < options.gemmMinTokens()) {
            return false;
        }
        for (BlockWeights b : w.blocks()) {
            if (CudaUnits.gemmOk(b.matrices())) {
                return true;
            }
        }
        return false;
    }

    private static int widest(ModelConfig c) {
        return Math.max(Math.max(c.embeddingLength(), c.queryDim()), c.feedForwardLength());
    }

    /** The widest input a one-token projection quantizes: {@link #widest}, or a shared expert's hidden state. */
    private static int widest8(ModelConfig c) {
        return Math.max(widest(c), c.moe() == null ? 0 : c.moe().sharedFeedForwardLength());
    }

    private static long largestNonF16Matrix(ModelWeights w) {
        long n = 1;
        for (BlockWeights b : w.blocks()) {
            for (Weight m : b.matrices()) {
                if (m.type() != GgmlType.F16) {
                    n = Math.max(n, (long) m.rows() * m.cols());
                }
            }
        }
        return n;
    }

    /** Room for one output slice's logits of a batch (at preparation: the widest slice decides). */
    CUdeviceptr sliceOut(int sliceRows) {
        if (sliceOutRows < sliceRows) {
            if (sliceOut != null) {
                cuMemFree(sliceOut);
                allocations.remove(sliceOut);
                deviceBytes -= 4L * rows * sliceOutRows;
            }
            sliceOut = alloc(4L * rows * sliceRows);
            sliceOutRows = sliceRows;
        }
        return sliceOut;
    }

    /**
     * Copies {@code bytes} from pinned host buffer {@code host} (at {@code offset}) to {@code dst} on the compute
     * stream. Small transfers are read by a kernel through the buffer's mapped address ({@code mapped}): the copy
     * engine may be busy for milliseconds with a streamed unit issued earlier, and a cuMemcpy would queue behind
     * it, stalling the step (measured on the lent H200: ~11 ms per step with CPU blocks, before this).
     */
    void upload(CUdeviceptr dst, CUdeviceptr mapped, Pointer host, long offset, long bytes) {
        if (bytes <= SMALL_UPLOAD_BYTES && bytes % 4 == 0) {
            kernels.copyWords(stream, mapped.withByteOffset(offset), dst, bytes / 4);
        } else {
            cuMemcpyHtoDAsync(dst, host.withByteOffset(offset), bytes, stream);
        }
    }

    /**
     * Enqueues a copy of {@code bytes} (a multiple of 4) from device memory into mapped host memory at {@code offset}:
     * a kernel's writes, which a CUDA graph can hold and which land without the copy engine's latency; the host reads
     * them once it has synchronised the stream.
     */
    void downloadWords(CUdeviceptr src, CUdeviceptr mapped, long offset, long bytes) {
        kernels.copyWords(stream, src, mapped.withByteOffset(offset), bytes / 4);
    }

    long deviceBytes() {
        return deviceBytes;
    }

    /** Device memory with 16 bytes to spare: decoders of 2-byte aligned blocks read whole aligned words. */
    private CUdeviceptr alloc(long bytes) {
        CUdeviceptr p = new CUdeviceptr();
        CudaMemory.alloc(p, bytes + CudaKernels.PADDING, device, "the activations and scratch of a step");
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
        for (CUdeviceptr p : allocations) {
            cuMemFree(p);
        }
        allocations.clear();
        for (Pointer p : new Pointer[] {paramsHost, seqParamsHost, batchTablesHost, xHost, kvUpHost, kvDownHost,
                logitsHost}) {
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

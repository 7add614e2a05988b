package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.backend.DeviceMemoryException;
import io.offload4j.backend.EncoderInputs;
import io.offload4j.backend.EncoderPass;
import io.offload4j.model.EncoderConfig;
import io.offload4j.model.EncoderModel;
import io.offload4j.model.EncoderWeights;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * A BERT-family encoder on one GPU, several inputs packed into the rows of one activation matrix (see
 * {@link EncoderPass}); the same steps as the CPU pass ({@code backend.cpu.CpuEncoderPass}), in fp32 throughout:
 * word rows gathered on the device, + positions + token types, LayerNorm; per block one fused Q/K/V GEMM with its
 * biases, bidirectional attention within each input's rows, the output projection, residual + LayerNorm, the
 * feed-forward ({@link #feedForward}), residual + LayerNorm. nomic-bert differs as on the CPU: no position table
 * (the embedding sum leaves positions out), Q and K rotated by each row's position within its own input right after
 * the QKV GEMM ({@code enc_rope}), no projection biases (null pointers), and a SwiGLU feed-forward (gate and up in
 * one GEMM, {@code enc_swiglu}, then down). Weights stay resident ({@link CudaEncoderWeights}); the
 * activations are sized for {@code maxRows} at preparation, so a call allocates nothing on the device. The hidden
 * states come back to the host once per call; the classification head, a few thousand multiply-adds per input,
 * runs on the host from the [CLS] rows, with the CPU pass's own row kernels.
 */
final class CudaEncoderPass implements EncoderPass {

    /** Free device memory left over after the encoder is in place (the driver's and other kernels' own needs). */
    private static final long MARGIN = 256L << 20;

    private final CudaDevice device;
    private final CudaKernels kernels;
    private final CudaEncoderKernels enc;
    private final EncoderConfig config;
    private final EncoderWeights hostWeights;
    private final CudaEncoderWeights weights;
    private final int maxRows;
    private final int activation;
    private final float attentionScale;
    private final CUstream stream = new CUstream();
    private final List<CUdeviceptr> buffers = new ArrayList<>();

    private final CUdeviceptr x;        // [rows][dim]: the residual stream
    private final CUdeviceptr qkv;      // [rows][3 dim]
    private final CUdeviceptr ctx;      // [rows][dim]: attention output
    private final CUdeviceptr tmp;      // [rows][dim]: a projection before its residual add
    private final CUdeviceptr hidden;   // [rows][ffn]; [rows][2 ffn] (gate, up) with a gated feed-forward
    private final CUdeviceptr swiglu;   // [rows][ffn]: silu(gate) ⊙ up, the down projection's input; null ungated
    private final CUdeviceptr ropeCos;  // [position][headDim / 2]; null for learned positions
    private final CUdeviceptr ropeSin;
    /** params[0] = 0, params[1] = rows, token ids from params[2] (the layout the embed kernels read), then per row
     *  its token type, position row, and its input's first and one-past-last row. */
    private final CUdeviceptr params;
    private final int[] hostParams;
    private final CUdeviceptr typeIds;
    private final CUdeviceptr positionRows;
    private final CUdeviceptr rowStart;
    private final CUdeviceptr rowEnd;

    private final float[] headIn;
    private final float[] headMid;
    private final float[] headScratch = new float[RowKernel.DOT_SCRATCH];

    CudaEncoderPass(CudaDevice device, CudaKernels kernels, EncoderModel model, int maxRows) {
        this.device = device;
        this.kernels = kernels;
        this.enc = new CudaEncoderKernels(kernels, device.multiprocessors());
        this.config = model.config();
        this.hostWeights = model.weights();
        if (maxRows < 1) {
            throw new IllegalArgumentException("maxRows must be positive, was " + maxRows);
        }
        if (config.headDim() > CudaEncoderKernels.MAX_HEAD_DIM) {
            throw new IllegalArgumentException(model.path() + ": head size " + config.headDim() + "; the GPU encoder"
                    + " attention takes up to " + CudaEncoderKernels.MAX_HEAD_DIM + ": use device cpu");
        }
        boolean gated = hostWeights.layers().stream().anyMatch(l -> l.gate() != null);
        this.maxRows = maxRows;
        this.activation = config.geluTanh() ? CudaEncoderKernels.ACT_GELU_TANH : CudaEncoderKernels.ACT_GELU_ERF;
        this.attentionScale = (float) (1.0 / Math.sqrt(config.headDim()));
        int dim = config.embeddingLength();
        int ffn = config.feedForwardLength();
        EncoderRotaryTables rope = config.rotary()
                ? EncoderRotaryTables.of(config, EncoderRotaryTables.positionsFor(config, maxRows)) : null;
        long activations = 4L * maxRows * (6L * dim + (gated ? 3L * ffn : ffn)) + 4L * (2 + 5L * maxRows)
                + (rope == null ? 0 : 8L * rope.cos().length);
        long need = CudaEncoderWeights.bytes(hostWeights, config) + activations;
        device.makeCurrent();
        long free = device.freeMemory();
        if (need + MARGIN > free) {
            throw new DeviceMemoryException(device.description(), "encoder " + config.name() + " ("
                    + mib(need) + " MiB of fp32 weights and activations for " + maxRows + " rows per pass)",
                    need + MARGIN - free, null);
        }
        CudaEncoderWeights w = null;
        try {
            cuStreamCreate(stream, CUstream_flags.CU_STREAM_DEFAULT); // ordered with the synchronous copies below
            w = new CudaEncoderWeights(hostWeights, config, device.name());
            x = alloc(4L * maxRows * dim, "activations");
            qkv = alloc(12L * maxRows * dim, "Q/K/V activations");
            ctx = alloc(4L * maxRows * dim, "attention activations");
            tmp = alloc(4L * maxRows * dim, "projection activations");
            hidden = alloc(4L * maxRows * (gated ? 2L * ffn : ffn), "feed-forward activations");
            swiglu = gated ? alloc(4L * maxRows * ffn, "SwiGLU activations") : null;
            ropeCos = rope == null ? null : upload(rope.cos(), "rotary cos table");
            ropeSin = rope == null ? null : upload(rope.sin(), "rotary sin table");
            params = alloc(4L * (2 + 5L * maxRows), "token ids");
        } catch (RuntimeException | Error e) {
            if (w != null) {
                w.close();
            }
            freeBuffers();
            cuStreamDestroy(stream);
            throw e;
        }
        this.weights = w;
        this.hostParams = new int[2 + 5 * maxRows];
        this.typeIds = params.withByteOffset(4L * (2 + maxRows));
        this.positionRows = params.withByteOffset(4L * (2 + 2L * maxRows));
        this.rowStart = params.withByteOffset(4L * (2 + 3L * maxRows));
        this.rowEnd = params.withByteOffset(4L * (2 + 4L * maxRows));
        this.headIn = new float[dim];
        this.headMid = new float[dim];
    }

    private static long mib(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }

    private CUdeviceptr alloc(long bytes, String what) {
        CUdeviceptr p = new CUdeviceptr();
        CudaMemory.alloc(p, bytes + CudaKernels.PADDING, device.name(), what + " of encoder " + config.name());
        buffers.add(p);
        return p;
    }

    private CUdeviceptr upload(float[] v, String what) {
        CUdeviceptr p = alloc(4L * v.length, what);
        cuMemcpyHtoD(p, Pointer.to(v), 4L * v.length);
        return p;
    }

    @Override
    public EncoderConfig config() {
        return config;
    }

    @Override
    public int maxRows() {
        return maxRows;
    }

    @Override
    public String description() {
        return device.description() + ", fp32 encoder kernels, weights resident";
    }

    @Override
    public void encode(int[] ids, int[] typeIdsIn, int[] lengths, int sequences, float[] out) {
        int rows = pack(ids, typeIdsIn, lengths, sequences);
        int dim = config.embeddingLength();
        if (out.length < rows * dim) {
            throw new IllegalArgumentException("hidden holds " + out.length + " floats; " + rows + " rows need "
                    + rows * dim);
        }
        device.makeCurrent();
        cuMemcpyHtoD(params, Pointer.to(hostParams), 4L * hostParams.length);
        kernels.embed(stream, weights.tokenTableType, weights.tokenTable, weights.tokenTableRowBytes, dim, params, x,
                rows);
        enc.embedNorm(stream, x, weights.positions, weights.tokenTypes, positionRows, typeIds, weights.embeddingNorm,
                weights.embeddingNormBias, dim, config.layerNormEps(), rows);
        for (CudaEncoderWeights.Layer l : weights.layers) {
            attention(l, rows);
            feedForward(l, rows);
        }
        cuStreamSynchronize(stream);
        cuMemcpyDtoH(Pointer.to(out), x, 4L * rows * dim);
    }

    /**
     * Checks the inputs as the CPU pass does (a bad id must not reach the device, where it would read out of bounds)
     * and writes them, with each row's position and input bounds, into {@link #hostParams}; returns the rows.
     */
    private int pack(int[] ids, int[] types, int[] lengths, int sequences) {
        EncoderInputs.checkPacking(config, maxRows, lengths, sequences);
        int[] p = hostParams;
        int m = maxRows;
        int rows = 0;
        for (int s = 0; s < sequences; s++) {
            int n = lengths[s];
            for (int t = rows; t < rows + n; t++) {
                int id = ids[t];
                int type = types[t];
                EncoderInputs.checkToken(config, id, type);
                p[2 + t] = id;
                p[2 + m + t] = type;
                p[2 + 2 * m + t] = t - rows + config.positionOffset();
                p[2 + 3 * m + t] = rows;
                p[2 + 4 * m + t] = rows + n;
            }
            rows += n;
        }
        p[0] = 0;
        p[1] = rows;
        return rows;
    }

    /** x = LayerNorm(x + Wo · attention(x)): post-LayerNorm self-attention (Q and K rotated first if rotary). */
    private void attention(CudaEncoderWeights.Layer l, int rows) {
        int dim = config.embeddingLength();
        enc.gemm(stream, x, l.qkv(), l.qkvBias(), qkv, rows, 3 * dim, dim, CudaEncoderKernels.ACT_NONE);
        if (ropeCos != null) {
            enc.rope(stream, qkv, rowStart, ropeCos, ropeSin, rows, config.headCount(), config.headDim());
        }
        enc.attention(stream, qkv, rowStart, rowEnd, ctx, rows, config.headCount(), config.headDim(), attentionScale);
        enc.gemm(stream, ctx, l.wo(), l.bo(), tmp, rows, dim, dim, CudaEncoderKernels.ACT_NONE);
        enc.addLayerNorm(stream, x, tmp, l.attentionNorm(), l.attentionNormBias(), dim, config.layerNormEps(), rows);
    }

    /**
     * x = LayerNorm(x + down(GELU(up(x)))), or with a gated layer (nomic-bert's SwiGLU)
     * x = LayerNorm(x + down(silu(gate · x) ⊙ (up · x))): gate and up as one GEMM into each row of {@link #hidden}
     * (gate's half first), combined into {@link #swiglu}.
     */
    private void feedForward(CudaEncoderWeights.Layer l, int rows) {
        int dim = config.embeddingLength();
        int ffn = config.feedForwardLength();
        CUdeviceptr downIn = hidden;
        if (l.gated()) {
            enc.gemm(stream, x, l.up(), l.upBias(), hidden, rows, 2 * ffn, dim, CudaEncoderKernels.ACT_NONE);
            enc.swiglu(stream, hidden, swiglu, rows, ffn);
            downIn = swiglu;
        } else {
            enc.gemm(stream, x, l.up(), l.upBias(), hidden, rows, ffn, dim, activation);
        }
        enc.gemm(stream, downIn, l.down(), l.downBias(), tmp, rows, dim, ffn, CudaEncoderKernels.ACT_NONE);
        enc.addLayerNorm(stream, x, tmp, l.outputNorm(), l.outputNormBias(), dim, config.layerNormEps(), rows);
    }

    /** The head on the host, as the CPU pass computes it: dense, tanh, out on each input's first row. */
    @Override
    public void classify(float[] hiddenStates, int[] lengths, int sequences, float[] logits) {
        EncoderWeights.Classifier head = hostWeights.classifier();
        if (head == null) {
            throw new IllegalStateException(config.name() + " has no classification head; it is an embedding model,"
                    + " not a cross-encoder");
        }
        int dim = config.embeddingLength();
        int labels = config.labels();
        RowKernel denseKernel = CpuKernels.of(head.dense().type());
        RowKernel outKernel = CpuKernels.of(head.out().type());
        int row = 0;
        for (int s = 0; s < sequences; s++) {
            System.arraycopy(hiddenStates, row * dim, headIn, 0, dim);
            for (int r = 0; r < dim; r++) {
                float y = denseKernel.dot(head.dense().data(), r * head.dense().rowBytes(), headIn, 0, dim,
                        headScratch);
                headMid[r] = (float) Math.tanh(y + (head.denseBias() == null ? 0f : head.denseBias()[r]));
            }
            for (int r = 0; r < labels; r++) {
                float y = outKernel.dot(head.out().data(), r * head.out().rowBytes(), headMid, 0, dim, headScratch);
                logits[s * labels + r] = y + (head.outBias() == null ? 0f : head.outBias()[r]);
            }
            row += lengths[s];
        }
    }

    private void freeBuffers() {
        for (CUdeviceptr p : buffers) {
            cuMemFree(p);
        }
        buffers.clear();
    }

    @Override
    public void close() {
        device.makeCurrent();
        cuStreamSynchronize(stream);
        weights.close();
        freeBuffers();
        cuStreamDestroy(stream);
    }
}

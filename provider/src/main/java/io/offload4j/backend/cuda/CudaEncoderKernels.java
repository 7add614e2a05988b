package io.offload4j.backend.cuda;

import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;

/**
 * The encoder kernels of {@code src/main/cuda/encoder.cuh}, one Java method per kernel that picks the launch shape
 * (the module is {@link CudaKernels}'s; argument types must match the CUDA signatures exactly). A null bias or gain
 * pointer means none.
 */
final class CudaEncoderKernels {

    /** Activations of {@link #gemm}'s epilogue (ENC_ACT_* in the CUDA source). */
    static final int ACT_NONE = 0;
    static final int ACT_GELU_ERF = 1;
    static final int ACT_GELU_TANH = 2;

    /** The largest head size {@link #attention} takes (ENC_MAX_HD). */
    static final int MAX_HEAD_DIM = 128;
    private static final int ATT_QUERIES = 8;   // EA_Q
    private static final int ATT_KEYS = 32;     // EA_KT
    private static final int GEMM_TILE = 64;    // EG_BM, EG_BN, EW_BN
    private static final int WIDE_ROWS = 128;   // EW_BM

    /**
     * Which GEMM kernel the encoder uses: {@code auto} (default: {@code enc_gemm_wide} where its grid still has
     * {@link #WIDE_BLOCKS_PER_SM} blocks per SM, else {@code enc_gemm}), {@code simple} or {@code wide} (for A/B
     * measurements and tests).
     */
    static final String GEMM_PROPERTY = "offload4j.encoder.gemm";
    private static final int WIDE_BLOCKS_PER_SM = 2;

    private final CudaKernels kernels;
    private final int multiprocessors;
    private final String gemmChoice;

    CudaEncoderKernels(CudaKernels kernels, int multiprocessors) {
        this(kernels, multiprocessors, System.getProperty(GEMM_PROPERTY, "auto"));
    }

    CudaEncoderKernels(CudaKernels kernels, int multiprocessors, String gemmChoice) {
        if (!gemmChoice.equals("auto") && !gemmChoice.equals("simple") && !gemmChoice.equals("wide")) {
            throw new IllegalArgumentException(GEMM_PROPERTY + " is '" + gemmChoice + "'; use auto, simple or wide");
        }
        this.kernels = kernels;
        this.multiprocessors = multiprocessors;
        this.gemmChoice = gemmChoice;
    }

    /** c[m][n] = act(a[m][k] · b[n][k]^T + bias[n]), all fp32, any sizes. */
    void gemm(CUstream stream, CUdeviceptr a, CUdeviceptr b, CUdeviceptr bias, CUdeviceptr c, int m, int n, int k,
              int act) {
        int gx = (n + GEMM_TILE - 1) / GEMM_TILE;
        int wideRows = (m + WIDE_ROWS - 1) / WIDE_ROWS;
        boolean wide = switch (gemmChoice) {
            case "wide" -> true;
            case "simple" -> false;
            default -> (long) gx * wideRows >= (long) WIDE_BLOCKS_PER_SM * multiprocessors;
        };
        int gy = wide ? wideRows : (m + GEMM_TILE - 1) / GEMM_TILE;
        if (gy > 65_535) {
            throw new IllegalArgumentException(m + " rows in one encoder GEMM; at most " + 65_535 * GEMM_TILE);
        }
        kernels.launch(wide ? "enc_gemm_wide" : "enc_gemm", stream, gx, gy, 256, 0, a, b, bias, c, m, n, k, act);
    }

    /** x[r] = LayerNorm(x[r] + t[r]) for {@code rows} rows of {@code n} (t null: LayerNorm(x[r])). */
    void addLayerNorm(CUstream stream, CUdeviceptr x, CUdeviceptr t, CUdeviceptr gain, CUdeviceptr bias, int n,
                      float eps, int rows) {
        kernels.launch("enc_add_layernorm", stream, rows, 1, threads(n), 0, x, t, gain, bias, n, eps);
    }

    /**
     * x[r] = LayerNorm(x[r] + positions[posIdx[r]] + types[typeIds[r]]): the embedding sum of BERT; a null
     * {@code positions} (rotary positions, nomic-bert) leaves the position term out.
     */
    void embedNorm(CUstream stream, CUdeviceptr x, CUdeviceptr positions, CUdeviceptr types, CUdeviceptr posIdx,
                   CUdeviceptr typeIds, CUdeviceptr gain, CUdeviceptr bias, int n, float eps, int rows) {
        kernels.launch("enc_embed_norm", stream, rows, 1, threads(n), 0, x, positions, types, posIdx, typeIds, gain,
                bias, n, eps);
    }

    /**
     * ctx[r] = softmax(q[r]·k / √hd)·v over the rows rowStart[r] .. rowEnd[r]-1, per head, with q, k, v the three
     * thirds of each row of {@code qkv} ([rows][3 × heads × hd]).
     */
    void attention(CUstream stream, CUdeviceptr qkv, CUdeviceptr rowStart, CUdeviceptr rowEnd, CUdeviceptr ctx,
                   int rows, int heads, int headDim, float scale) {
        if (headDim > MAX_HEAD_DIM) {
            throw new IllegalArgumentException("head size " + headDim + " above the encoder attention's "
                    + MAX_HEAD_DIM);
        }
        int shared = 4 * (ATT_QUERIES * headDim + ATT_KEYS * (headDim + 1) + ATT_KEYS * headDim);
        kernels.launch("enc_attention", stream, heads, (rows + ATT_QUERIES - 1) / ATT_QUERIES, 128, shared, qkv,
                rowStart, rowEnd, ctx, rows, heads, headDim, scale);
    }

    /**
     * Rotates the Q and K thirds of each row of {@code qkv} ([rows][3 × heads × hd]) in place by the row's position
     * within its input ({@code r - rowStart[r]}), NEOX halves, with the cos / sin tables {@code [position × hd/2 + i]}
     * (nomic-bert's rotary positions).
     */
    void rope(CUstream stream, CUdeviceptr qkv, CUdeviceptr rowStart, CUdeviceptr cos, CUdeviceptr sin, int rows,
              int heads, int headDim) {
        if (headDim % 2 != 0) {
            throw new IllegalArgumentException("rotary positions need an even head size, not " + headDim);
        }
        // one thread per rotated pair (heads × hd/2 of Q, as many of K) up to 256
        kernels.launch("enc_rope", stream, rows, 1, threads(4 * heads * headDim), 0, qkv, rowStart, cos, sin,
                heads, headDim);
    }

    /**
     * out[r][i] = silu(gateUp[r][i]) × gateUp[r][ffn + i]: SwiGLU between the stacked gate/up GEMM
     * ({@code gateUp} [rows][2 × ffn], gate first) and the down projection ({@code out} [rows][ffn]).
     */
    void swiglu(CUstream stream, CUdeviceptr gateUp, CUdeviceptr out, int rows, int ffn) {
        long total = (long) rows * ffn;
        int blocks = (int) Math.min((total + 255) / 256, 32L * multiprocessors);
        kernels.launch("enc_swiglu", stream, Math.max(1, blocks), 1, 256, 0, gateUp, out, rows, ffn);
    }

    private static int threads(int n) {
        return Math.clamp((n / 4 + 31) / 32 * 32, 32, 256);
    }
}

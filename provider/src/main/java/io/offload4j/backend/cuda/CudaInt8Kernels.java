package io.offload4j.backend.cuda;

import io.offload4j.gguf.GgmlType;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;

/**
 * The launches of {@code src/main/cuda/matvec_x8.cuh}: a short step's projection inputs (up to {@link #MAX_STEP_TOKENS}
 * tokens) normalised and quantized to 8 bits ({@link #quantize}), and the projections that multiply them with the
 * weights' integer quants ({@link #matvec}), reading each weight once for all the tokens of a launch, for the formats
 * that have such kernels. Whether a model uses them is decided when its kernels are prepared: on unless {@link #PROPERTY}
 * is {@code false}; {@link #TOKENS_PROPERTY} caps the tokens. (A mixture of experts' one-token expert kernels on the
 * same rows are launched by {@link CudaMoeKernels}.)
 */
final class CudaInt8Kernels {

    /**
     * System property that turns 8-bit activations off when set to {@code false}: one-token projections then multiply
     * float activations, as before they existed (for A/B measurements and as an escape hatch).
     */
    static final String PROPERTY = "offload4j.cuda.int8Activations";

    /**
     * System property: the most tokens a step may have for its projections to take these kernels, 1 (default) to
     * {@link #MAX_STEP_TOKENS}. The multi-token kernels (2 to {@link #MAX_TOKENS} tokens a launch) compile and their
     * single-token instances are the measured ones unchanged, but they have not yet run on a GPU (no device was lent
     * when they were written): until a GPU run checks them (Int8ActivationsGpuTest.multiTokenStepEqualsItsTokensAlone)
     * and times them, steps of several tokens keep the float kernels unless this asks for more. Steps from
     * gemmMinTokens rows (5 by default) take the tensor-core GEMMs whatever this says.
     */
    static final String TOKENS_PROPERTY = "offload4j.cuda.int8Tokens";

    /**
     * The most tokens one launch multiplies (MVX8_MAX_TOKENS in the CUDA source). Steps of this many rows or fewer are
     * decode steps of a few sequences together, or a draft's verification; more accumulators would not fit the
     * kernels' registers.
     */
    static final int MAX_TOKENS = 4;

    /**
     * The most tokens a step may have for its projections to take these kernels: two launches of {@link #MAX_TOKENS},
     * where gemmMinTokens is raised above 5 (the workspace holds this many quantized rows).
     */
    static final int MAX_STEP_TOKENS = 2 * MAX_TOKENS;

    /** {@link #TOKENS_PROPERTY}'s default: single-token steps only, until the multi-token kernels are measured. */
    static final int DEFAULT_TOKENS = 1;

    /** Formats with 8-bit-activation kernels. */
    private static final Set<GgmlType> FORMATS = Collections.unmodifiableSet(EnumSet.of(GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K));

    /** Threads of a quantize_x8 block (QX8_THREADS): a warp per 32 values. */
    private static final int QUANTIZE_THREADS = 256;

    private final CudaKernels kernels;
    private final boolean enabled = !"false".equalsIgnoreCase(System.getProperty(PROPERTY));
    private final int maxTokens;

    CudaInt8Kernels(CudaKernels kernels) {
        this(kernels, tokensFrom(System.getProperty(TOKENS_PROPERTY)));
    }

    /** With {@code maxTokens} in place of {@link #TOKENS_PROPERTY} (tests). */
    CudaInt8Kernels(CudaKernels kernels, int maxTokens) {
        this.kernels = kernels;
        this.maxTokens = maxTokens;
    }

    /** {@link #TOKENS_PROPERTY}'s value (null: {@link #DEFAULT_TOKENS}), checked. */
    static int tokensFrom(String value) {
        if (value == null || value.isBlank()) {
            return DEFAULT_TOKENS;
        }
        int tokens;
        try {
            tokens = Integer.parseInt(value.strip());
        } catch (NumberFormatException e) {
            tokens = 0;
        }
        if (tokens < 1 || tokens > MAX_STEP_TOKENS) {
            throw new IllegalArgumentException("-D" + TOKENS_PROPERTY + "=" + value
                    + ": expected a whole number from 1 to " + MAX_STEP_TOKENS + " (the most tokens a step may have to multiply 8-bit activations)");
        }
        return tokens;
    }

    /** Whether {@code type} has 8-bit-activation kernels (whether or not {@link #PROPERTY} turned them off). */
    static boolean hasKernel(GgmlType type) {
        return FORMATS.contains(type);
    }

    /** Whether rows of {@code cols} values of {@code type} fit the kernels: a format with them, whole blocks of 32. */
    static boolean fits(GgmlType type, int cols) {
        return hasKernel(type) && cols % 32 == 0 && CudaKernels.vectorisable(type, cols);
    }

    /** Throws where {@link #fits} does not hold: a caller chose these kernels for rows they cannot multiply. */
    static void require(GgmlType type, int cols) {
        if (!fits(type, cols)) {
            throw new IllegalArgumentException("no 8-bit-activation kernel for " + type + " rows of " + cols
                    + " values; formats: " + FORMATS + ", rows a multiple of 32 values");
        }
    }

    /**
     * Whether a projection of rows of {@code cols} values of {@code type} runs on these kernels in a step of
     * {@code tokens} tokens.
     */
    boolean applies(GgmlType type, int cols, int tokens) {
        return enabled && tokens >= 1 && tokens <= maxTokens && fits(type, cols);
    }

    /**
     * {@code rows} consecutive rows of {@code cols} activations (RMS-normalised with {@code normW} and {@code eps}
     * first when normW is not null) quantized for {@link #matvec}: row r's int8 values at xq + r × cols, its float
     * scale per 32 at xd + r × cols / 32, the float sum of every 16 at xs + r × cols / 16.
     */
    void quantize(CUstream stream, CUdeviceptr x, CUdeviceptr normW, float eps, int cols, CUdeviceptr xq,
                  CUdeviceptr xd, CUdeviceptr xs, int rows) {
        kernels.launch("quantize_x8", stream, quantizeBlocks(cols), rows, QUANTIZE_THREADS, 0, x, normW, eps, cols, xq,
                xd, xs);
    }

    /**
     * {@link #quantize} of one row that also writes the normalised floats to {@code keep} (quantize_x8_keep): the
     * same floats the {@code rmsnorm} kernel writes for rows of 1024 values or more (the same 256-thread sum of
     * squares), so one launch replaces rmsnorm + quantize where a step needs both.
     */
    void quantizeKeeping(CUstream stream, CUdeviceptr x, CUdeviceptr normW, float eps, int cols, CUdeviceptr xq,
                         CUdeviceptr xd, CUdeviceptr xs, CUdeviceptr keep) {
        kernels.launch("quantize_x8_keep", stream, quantizeBlocks(cols), 1, QUANTIZE_THREADS, 0, x, normW, eps, cols, xq,
                xd, xs, keep);
    }

    /** Blocks of a quantize launch per row (a warp per 32 values), for rows of {@code cols} values. */
    private static int quantizeBlocks(int cols) {
        if (cols % 32 != 0) {
            throw new IllegalArgumentException("8-bit activations come in blocks of 32 values: " + cols);
        }
        return (cols + QUANTIZE_THREADS - 1) / QUANTIZE_THREADS;
    }

    /**
     * {@link CudaKernels#matvec} for {@code tokens} tokens (1 to {@link #MAX_TOKENS}) whose activations
     * {@link #quantize} has quantized (norm included): the same matrices, modes and outputs (token t's at
     * y + t × rows). Each token's sum runs in the order of a single-token launch (Int8ActivationsGpuTest compares them).
     */
    void matvec(CUstream stream, GgmlType type, int tokens, int mode, CUdeviceptr w0, CUdeviceptr w1, CUdeviceptr w2,
                int rows0, int rows1, int rows2, long rowBytes, int cols, CUdeviceptr xq, CUdeviceptr xd,
                CUdeviceptr xs, CUdeviceptr y0, CUdeviceptr y1, CUdeviceptr y2) {
        require(type, cols);
        if (tokens < 1 || tokens > MAX_TOKENS) {
            throw new IllegalArgumentException("8-bit-activation projections take 1 to " + MAX_TOKENS + " tokens: "
                    + tokens);
        }
        int warps = CudaKernels.matvecWarps(1, mode, rows0, rows1, rows2);
        kernels.launch("matvec_x8_" + CudaKernels.suffix(type) + "_n" + tokens + "_m" + mode, stream,
                (warps + CudaKernels.MV_WARPS - 1) / CudaKernels.MV_WARPS, 1, 32 * CudaKernels.MV_WARPS, 0,
                w0, w1, w2, rows0, rows1, rows2, rowBytes, cols, xq, xd, xs, y0, y1, y2);
    }
}

package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxGetDevice;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuFuncSetAttribute;
import static jcuda.driver.JCudaDriver.cuLaunchKernel;
import static jcuda.driver.JCudaDriver.cuModuleGetFunction;
import static jcuda.driver.JCudaDriver.cuModuleLoadData;
import static jcuda.driver.JCudaDriver.cuModuleUnload;

import io.offload4j.gguf.GgmlType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.util.Collections;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUfunction_attribute;
import jcuda.driver.CUmodule;
import jcuda.driver.CUstream;

/**
 * The kernels of {@code src/main/cuda/offload4j.cu}, loaded from the fatbin resource into the current
 * context, with one Java method per kernel that picks the launch shape. Every launch names its stream
 * explicitly. Argument types must match the CUDA signatures exactly (int vs long long): the wrappers
 * below are the only place that builds argument lists.
 */
public final class CudaKernels implements AutoCloseable {

    /** Resource path of the fatbin and of its checksum file. */
    public static final String FATBIN = "/io/offload4j/backend/cuda/offload4j.fatbin";
    public static final String CHECKSUM = FATBIN + ".sha256";

    /** Matrix-vector modes (MV_* in the CUDA source). */
    public static final int STORE = 0;
    public static final int ADD = 1;
    public static final int SWIGLU = 2;

    /** Formats with GPU kernels. */
    public static final Set<GgmlType> SUPPORTED = Collections.unmodifiableSet(EnumSet.of(GgmlType.F32, GgmlType.F16,
            GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K,
            GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS));

    /**
     * Spare bytes at the end of every device buffer, so that a decoder may read whole aligned words
     * around 2-byte aligned fields (an experiment measured slower for now; the slack costs nothing).
     */
    public static final long PADDING = 16;

    /** The most head size the attention kernels hold in registers (MAX_HD). */
    public static final int MAX_HEAD_DIM = 256;
    /** GEMM tile sizes: N must be a multiple of GEMM_N, K of GEMM_K. */
    public static final int GEMM_N = 128;
    public static final int GEMM_K = 32;
    /** Shared-memory stages and padded row of the prefill GEMM (GTC_STAGES, GTC_LD in gemm_prefill.cuh). */
    private static final int GEMM_STAGES = 4;
    private static final int GEMM_ROW_HALVES = 40;
    private static final int ATT_WARPS = 4;
    private static final int PREFILL_QUERIES = 8;
    private static final int PREFILL_KEYS = 32;

    private final CUmodule module = new CUmodule();
    private final Map<String, CUfunction> functions = new HashMap<>();
    private final int multiprocessors;
    private final CUfunction gemm64;
    private final CUfunction gemm128;

    /** Loads the module into the current context. */
    public CudaKernels() {
        cuModuleLoadData(module, fatbin());
        CUdevice device = new CUdevice();
        cuCtxGetDevice(device);
        int[] v = new int[1];
        cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        multiprocessors = v[0];
        gemm64 = gemmFunction("gemm_f16_m64", 64);
        gemm128 = gemmFunction("gemm_f16_m128", 128);
    }

    /** A prefill GEMM instance, allowed the dynamic shared memory its stages take (above the default 48 KB). */
    private CUfunction gemmFunction(String name, int blockRows) {
        CUfunction f = function(name);
        cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                gemmSharedBytes(blockRows));
        return f;
    }

    /** The fatbin bytes from the class path. */
    public static byte[] fatbin() {
        try (InputStream in = CudaKernels.class.getResourceAsStream(FATBIN)) {
            if (in == null) {
                throw new IllegalStateException("resource " + FATBIN + " is missing from the class path; build it with"
                        + " provider/src/main/cuda/build.sh");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private CUfunction function(String name) {
        CUfunction f = functions.get(name);
        if (f == null) {
            f = new CUfunction();
            cuModuleGetFunction(f, module, name);
            functions.put(name, f);
        }
        return f;
    }

    /** Elements one thread decodes at a time (UNIT in formats.cuh). */
    public static int unit(GgmlType type) {
        return switch (type) {
            case F32 -> 4;
            case F16, BF16 -> 8;
            case Q8_0, Q4_K, Q5_K, IQ4_XS -> 16;
            case Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q6_K, IQ4_NL -> 32;
            default -> throw new IllegalArgumentException("no CUDA kernel for " + type + "; supported: " + SUPPORTED);
        };
    }

    static String suffix(GgmlType type) {
        unit(type);
        return type.name().toLowerCase(Locale.ROOT);
    }

    /** Whether rows of {@code cols} elements of {@code type} run on the vectorised kernels. */
    public static boolean vectorisable(GgmlType type, int cols) {
        return cols % unit(type) == 0;
    }

    private static boolean isFloat(GgmlType type) {
        return type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16;
    }

    private static Pointer args(Object... values) {
        NativePointerObject[] p = new NativePointerObject[values.length];
        for (int i = 0; i < values.length; i++) {
            Object v = values[i];
            p[i] = switch (v) {
                case null -> Pointer.to(new CUdeviceptr());
                case CUdeviceptr d -> Pointer.to(d);
                case Integer n -> Pointer.to(new int[] {n});
                case Long n -> Pointer.to(new long[] {n});
                case Float f -> Pointer.to(new float[] {f});
                default -> throw new IllegalArgumentException("kernel argument of " + v.getClass());
            };
        }
        return Pointer.to(p);
    }

    void launch(String name, CUstream stream, int gx, int gy, int bx, int sharedBytes, Object... a) {
        cuLaunchKernel(function(name), gx, gy, 1, bx, 1, 1, sharedBytes, stream, args(a), null);
    }

    /** Warps per matrix-vector block (MV_WARPS in the CUDA source). */
    static final int MV_WARPS = 4;

    /**
     * Warps a matrix-vector launch needs, as the CUDA source maps them (MV_PAIRED there): single-token store and
     * residual projections take two rows of one matrix per warp (an odd matrix's last warp one row), everything else
     * one row (SwiGLU: one row of gate and of up).
     */
    static int matvecWarps(int nt, int mode, int rows0, int rows1, int rows2) {
        if (mode == SWIGLU) {
            return rows0;
        }
        if (nt == 1) {
            return (rows0 + 1) / 2 + (rows1 + 1) / 2 + (rows2 + 1) / 2;
        }
        return rows0 + rows1 + rows2;
    }

    /**
     * y = W x for {@code nt} tokens (1, 2, 4 or 8; any count up to 8 for unquantized rows of odd length),
     * over up to three matrices of the same format and row length (w1/w2 may be null with 0 rows).
     * x is [nt][cols]; y_i is [nt][rows_i]. Mode {@link #SWIGLU} uses w0 (gate) and w1 (up), same rows,
     * output y0. With {@code normW} (not in mode {@link #ADD}), x is RMS-normalised with these weights
     * and {@code eps} on the fly, as the separate {@link #rmsnorm} would.
     */
    public void matvec(CUstream stream, GgmlType type, int nt, int mode, CUdeviceptr w0, CUdeviceptr w1, CUdeviceptr w2,
                       int rows0, int rows1, int rows2, long rowBytes, int cols, CUdeviceptr x, CUdeviceptr y0,
                       CUdeviceptr y1, CUdeviceptr y2, CUdeviceptr normW, float eps) {
        if (normW != null && mode == ADD) {
            throw new IllegalArgumentException("the fused norm applies to STORE and SWIGLU projections only");
        }
        int rows = mode == SWIGLU ? rows0 : rows0 + rows1 + rows2;
        if (vectorisable(type, cols)) {
            if (nt != 1 && nt != 2 && nt != 4 && nt != 8) {
                throw new IllegalArgumentException("nt must be 1, 2, 4 or 8: " + nt);
            }
            int warps = matvecWarps(nt, mode, rows0, rows1, rows2);
            launch("matvec_" + suffix(type) + "_n" + nt + "_m" + mode, stream, (warps + MV_WARPS - 1) / MV_WARPS, 1,
                    32 * MV_WARPS, 0, w0, w1, w2, rows0, rows1, rows2, rowBytes, cols, x, y0, y1, y2, nt, normW, eps);
        } else if (isFloat(type)) {
            if (nt < 1 || nt > 8) {
                throw new IllegalArgumentException("nt must be 1..8: " + nt);
            }
            launch("matvec_scalar_" + suffix(type), stream, rows, 1, 64, 0,
                    w0, w1, w2, rows0, rows1, rows2, rowBytes, cols, x, y0, y1, y2, nt | (mode << 8), normW, eps);
        } else {
            throw new IllegalArgumentException(type + " rows of " + cols + " elements are not a whole number of blocks");
        }
    }

    /** x[t] = embedding row params.tokens[t], for t < count. */
    public void embed(CUstream stream, GgmlType type, CUdeviceptr w, long rowBytes, int cols, CUdeviceptr params,
                      CUdeviceptr x, int count) {
        if (vectorisable(type, cols)) {
            int units = cols / unit(type);
            int threads = Math.min(128, Math.max(32, units));
            launch("embed_" + suffix(type), stream, count, (units + threads - 1) / threads, threads, 0,
                    w, rowBytes, cols, params, x);
        } else if (isFloat(type)) {
            launch("embed_scalar_" + suffix(type), stream, count, 1, 128, 0, w, rowBytes, cols, params, x);
        } else {
            throw new IllegalArgumentException(type + " rows of " + cols + " elements are not a whole number of blocks");
        }
    }

    /** out = W as fp16, [rows][cols]. */
    public void dequantF16(CUstream stream, GgmlType type, CUdeviceptr w, long rowBytes, int rows, int cols,
                           CUdeviceptr out) {
        if (!vectorisable(type, cols)) {
            throw new IllegalArgumentException(type + " rows of " + cols + " elements: no fp16 dequantization kernel");
        }
        long total = (long) rows * (cols / unit(type));
        int threads = 256;
        launch("dequant_f16_" + suffix(type), stream, Math.toIntExact((total + threads - 1) / threads), 1, threads, 0,
                w, rowBytes, rows, cols, out);
    }

    /** RMSNorm of {@code count} rows of {@code n}; out and/or out16 may be null. */
    public void rmsnorm(CUstream stream, CUdeviceptr x, CUdeviceptr weight, CUdeviceptr out, CUdeviceptr out16, int n,
                        float eps, int count) {
        int threads = Math.clamp((n / 4 + 31) / 32 * 32, 32, 256);
        launch("rmsnorm", stream, count, 1, threads, 0, x, weight, out, out16, n, eps);
    }

    public void swigluF16(CUstream stream, CUdeviceptr gate, CUdeviceptr up, CUdeviceptr out, long n) {
        launch("swiglu_f16", stream, Math.toIntExact((n + 255) / 256), 1, 256, 0, gate, up, out, n);
    }

    /** {@code n} 32-bit words from {@code src} (device memory or mapped pinned host memory) to {@code dst}. */
    public void copyWords(CUstream stream, CUdeviceptr src, CUdeviceptr dst, long n) {
        launch("copy_words", stream, Math.toIntExact((n + 255) / 256), 1, 256, 0, src, dst, n);
    }

    public void f32ToF16(CUstream stream, CUdeviceptr in, CUdeviceptr out, long n) {
        launch("f32_to_f16", stream, Math.toIntExact((n + 255) / 256), 1, 256, 0, in, out, n);
    }

    /** Biases, Q/K norms, RoPE and the K/V cache store for {@code count} tokens. */
    public void qkvPost(CUstream stream, CUdeviceptr q, CUdeviceptr k, CUdeviceptr v, CUdeviceptr qBias,
                        CUdeviceptr kBias, CUdeviceptr vBias, CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr invFreq,
                        int ropeDims, boolean halvesLayout, float eps, CUdeviceptr params, CUdeviceptr kCache,
                        CUdeviceptr vCache, int heads, int kvHeads, int headDim, int count) {
        qkvPost(stream, q, k, v, qBias, kBias, vBias, qNorm, kNorm, invFreq, ropeDims, halvesLayout, eps, params,
                kCache, vCache, heads, kvHeads, headDim, count, 1f, 0);
    }

    /**
     * As above, into a cache whose rows are a ring of {@code ring} rows (0: row = position): position p is stored in
     * row p mod ring and again in row p mod ring + ring (a sliding-window block, see {@code CudaKvCache}).
     */
    public void qkvPost(CUstream stream, CUdeviceptr q, CUdeviceptr k, CUdeviceptr v, CUdeviceptr qBias,
                        CUdeviceptr kBias, CUdeviceptr vBias, CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr invFreq,
                        int ropeDims, boolean halvesLayout, float eps, CUdeviceptr params, CUdeviceptr kCache,
                        CUdeviceptr vCache, int heads, int kvHeads, int headDim, int count, int ring) {
        qkvPost(stream, q, k, v, qBias, kBias, vBias, qNorm, kNorm, invFreq, ropeDims, halvesLayout, eps, params,
                kCache, vCache, heads, kvHeads, headDim, count, 1f, ring);
    }

    /**
     * {@link #qkvPost} with RoPE's cos and sin multiplied by {@code ropeMagnitude} (LongRoPE's attention factor, else
     * 1), into a cache whose rows are a ring of {@code ring} rows (0: row = position).
     */
    public void qkvPost(CUstream stream, CUdeviceptr q, CUdeviceptr k, CUdeviceptr v, CUdeviceptr qBias,
                        CUdeviceptr kBias, CUdeviceptr vBias, CUdeviceptr qNorm, CUdeviceptr kNorm, CUdeviceptr invFreq,
                        int ropeDims, boolean halvesLayout, float eps, CUdeviceptr params, CUdeviceptr kCache,
                        CUdeviceptr vCache, int heads, int kvHeads, int headDim, int count, float ropeMagnitude,
                        int ring) {
        int threads = Math.max(32, (headDim / 2 + 31) / 32 * 32);
        launch("qkv_post", stream, count, heads + 2 * kvHeads, threads, 0, q, k, v, qBias, kBias, vBias, qNorm, kNorm,
                invFreq, ropeDims, halvesLayout ? 1 : 0, eps, params, kCache, vCache, heads, kvHeads, headDim,
                ropeMagnitude, ring);
    }

    /**
     * {@link #qkvPost} for one token of each of {@code batch} sequences: token t at position {@code seqParams[4t]},
     * its key and value rows written at {@code kvTable[2t]} / {@code kvTable[2t+1]} (device addresses of this
     * block's caches) with ring {@code rings[t]}.
     */
    public void qkvPostBatch(CUstream stream, CUdeviceptr q, CUdeviceptr k, CUdeviceptr v, CUdeviceptr qBias,
                             CUdeviceptr kBias, CUdeviceptr vBias, CUdeviceptr qNorm, CUdeviceptr kNorm,
                             CUdeviceptr invFreq, int ropeDims, boolean halvesLayout, float eps, CUdeviceptr seqParams,
                             CUdeviceptr kvTable, CUdeviceptr rings, int heads, int kvHeads, int headDim, int batch,
                             float ropeMagnitude) {
        int threads = Math.max(32, (headDim / 2 + 31) / 32 * 32);
        launch("qkv_post_batch", stream, batch, heads + 2 * kvHeads, threads, 0, q, k, v, qBias, kBias, vBias, qNorm,
                kNorm, invFreq, ropeDims, halvesLayout ? 1 : 0, eps, seqParams, kvTable, rings, heads, kvHeads,
                headDim, ropeMagnitude);
    }

    /** g = GELU(g) · u (tanh approximation), {@code n} elements: Gemma's GeGLU on the matrix-vector path. */
    public void geglu(CUstream stream, CUdeviceptr gate, CUdeviceptr up, long n) {
        launch("geglu", stream, Math.toIntExact((n + 255) / 256), 1, 256, 0, gate, up, n);
    }

    /** out16 = GELU(g) · u (tanh approximation): Gemma's GeGLU on the GEMM path. */
    public void gegluF16(CUstream stream, CUdeviceptr gate, CUdeviceptr up, CUdeviceptr out, long n) {
        launch("geglu_f16", stream, Math.toIntExact((n + 255) / 256), 1, 256, 0, gate, up, out, n);
    }

    /** x += RMSNorm(t) · weight for {@code count} rows of {@code n}: Gemma's post-attention and post-FFN norms. */
    public void rmsnormAdd(CUstream stream, CUdeviceptr t, CUdeviceptr weight, CUdeviceptr x, int n, float eps,
                           int count) {
        int threads = Math.clamp((n / 4 + 31) / 32 * 32, 32, 256);
        launch("rmsnorm_add", stream, count, 1, threads, 0, t, weight, x, n, eps);
    }

    /** x = cap · tanh(x / cap) over {@code n} floats: Gemma 2's final logit soft-cap. */
    public void softcap(CUstream stream, CUdeviceptr x, long n, float cap) {
        launch("softcap", stream, Math.toIntExact((n + 255) / 256), 1, 256, 0, x, n, cap);
    }

    /** Floats of partial results attnDecode needs for {@code splits} splits. */
    public static long attnPartialFloats(int heads, int headDim, int splits) {
        return (long) heads * splits * (headDim + 2);
    }

    /**
     * Decode attention of one query token over positions 0..params.pos, split {@code splits} ways.
     * {@code counters} holds {@code heads} ints that must be zero before the first call; the kernel
     * leaves them zero again.
     */
    public void attnDecode(CUstream stream, CUdeviceptr q, CUdeviceptr kCache, CUdeviceptr vCache, CUdeviceptr params,
                           CUdeviceptr partial, CUdeviceptr counters, CUdeviceptr out, int heads, int kvHeads,
                           int headDim, int splits) {
        attnDecode(stream, q, kCache, vCache, params, partial, counters, out, heads, kvHeads, headDim, splits,
                AttentionShape.of(headDim));
    }

    /**
     * As above, with the scores scaled and soft-capped as {@code shape} says, over the last {@code shape.window()}
     * positions only when it has a window, in a cache whose rows may be a ring ({@link #qkvPost}).
     */
    public void attnDecode(CUstream stream, CUdeviceptr q, CUdeviceptr kCache, CUdeviceptr vCache, CUdeviceptr params,
                           CUdeviceptr partial, CUdeviceptr counters, CUdeviceptr out, int heads, int kvHeads,
                           int headDim, int splits, AttentionShape shape) {
        int shared = 4 * (headDim + 2 * ATT_WARPS + ATT_WARPS * headDim);
        launch("attn_decode", stream, heads, splits, 32 * ATT_WARPS, shared, q, kCache, vCache, params, partial, out,
                counters, heads, kvHeads, headDim, shape.scale(), shape.softcap(), shape.window(), shape.ring());
    }

    /**
     * {@link #attnDecode} for one query token of each of {@code batch} sequences (positions, cache addresses and rings
     * from the step's tables, see {@link #qkvPostBatch}); {@code partial} holds {@link #attnPartialFloats}(heads,
     * headDim, splits × batch) floats and {@code counters} heads × batch zeros.
     */
    public void attnDecodeBatch(CUstream stream, CUdeviceptr q, CUdeviceptr kvTable, CUdeviceptr rings,
                                CUdeviceptr seqParams, CUdeviceptr partial, CUdeviceptr counters, CUdeviceptr out,
                                int heads, int kvHeads, int headDim, int splits, int batch, AttentionShape shape) {
        int group = heads / kvHeads;
        if (groupedDecodeOk(headDim, group)) {
            // a block per key/value head: its query heads read each cached row once (attn_decode_gqa_*)
            CUfunction f = groupedFunction(headDim, group);
            cuLaunchKernel(f, kvHeads, splits, batch, 32 * ATT_WARPS, 1, 1, groupedSharedBytes(headDim, group), stream,
                    args(q, kvTable, rings, seqParams, partial, out, counters, heads, kvHeads, shape.scale(),
                            shape.softcap(), shape.window()), null);
            return;
        }
        int shared = 4 * (headDim + 2 * ATT_WARPS + ATT_WARPS * headDim);
        cuLaunchKernel(function("attn_decode_batch"), heads, splits, batch, 32 * ATT_WARPS, 1, 1, shared, stream,
                args(q, kvTable, rings, seqParams, partial, out, counters, heads, kvHeads, headDim, shape.scale(),
                        shape.softcap(), shape.window()), null);
    }

    /**
     * Splits of each sequence's positions in a batch's attention. The per-head kernel: {@code max(1, splits / batch)},
     * so that its partials fit one sequence's room. The grouped kernel has only kvHeads × batch blocks before
     * splitting (128 for 16 sequences of a 3B Llama), so it splits until there are about four blocks per SM:
     * round(4 · SMs / (kvHeads · batch)), 1 to 8. Measured on an H100 (tests/gpu/attn_bench.cu, session 11): 16
     * sequences of 2,048 positions 365 µs unsplit, 116 µs in 4 splits (the per-head kernel: 283 µs); 64 sequences of
     * 512, 114 µs unsplit (per-head: 173 µs).
     */
    public int batchAttentionSplits(int heads, int kvHeads, int headDim, int batch, int splits) {
        if (!groupedDecodeOk(headDim, heads / kvHeads)) {
            return Math.max(1, splits / batch);
        }
        return groupedSplits(kvHeads, batch, multiprocessors);
    }

    static int groupedSplits(int kvHeads, int batch, int multiprocessors) {
        return Math.clamp(Math.round(GROUPED_BLOCKS_PER_SM * multiprocessors / (float) (kvHeads * batch)), 1,
                GROUPED_MAX_SPLITS);
    }

    private static final int GROUPED_BLOCKS_PER_SM = 4;
    private static final int GROUPED_MAX_SPLITS = 8;

    /**
     * Floats of attention partials a workspace of {@code rows} rows needs: one sequence's {@code splits}, and every
     * batch size's sequences × {@link #batchAttentionSplits}.
     */
    public long batchAttentionPartialFloats(int heads, int kvHeads, int headDim, int rows, int splits) {
        long most = attnPartialFloats(heads, headDim, splits);
        for (int b = 2; b <= rows; b++) {
            most = Math.max(most, attnPartialFloats(heads, headDim,
                    b * batchAttentionSplits(heads, kvHeads, headDim, b, splits)));
        }
        return most;
    }

    /**
     * The grouped attention instance {@code attn_decode_gqa_d<headDim/32>_g<4|8>} for {@code group} query heads per
     * key/value head (the instance for 4 takes groups up to 4, the one for 8 up to 8), looked up once.
     */
    private CUfunction groupedFunction(int headDim, int group) {
        int maxGroup = group <= 4 ? 4 : 8;
        int d = Integer.numberOfTrailingZeros(headDim / 64);
        int g = maxGroup == 4 ? 0 : 1;
        CUfunction f = groupedDecode[d][g];
        if (f == null) {
            f = function("attn_decode_gqa_d" + headDim / 32 + "_g" + maxGroup);
            groupedDecode[d][g] = f;
        }
        return f;
    }

    /** Dynamic shared memory of a grouped attention block: its queries, and each warp's maxima, sums and outputs. */
    private static int groupedSharedBytes(int headDim, int group) {
        int maxGroup = group <= 4 ? 4 : 8;
        return 4 * (maxGroup * headDim + 2 * ATT_WARPS * maxGroup + ATT_WARPS * maxGroup * headDim);
    }

    /** attn_decode_gqa_d{2,4,8}_g{4,8}, looked up on first use: [log2(headDim / 64)][maxGroup 4 or 8]. */
    private final CUfunction[][] groupedDecode = new CUfunction[3][2];
    /**
     * Whether a batch's attention takes the grouped kernel (attn_decode_gqa_d&lt;headDim/32&gt;_g&lt;4|8&gt;): head
     * sizes of 64, 128 or 256 and up to 8 query heads per key/value head; others take attn_decode_batch.
     */
    static boolean groupedDecodeOk(int headDim, int group) {
        return (headDim == 64 || headDim == 128 || headDim == 256) && group >= 1 && group <= 8;
    }

    /** Causal attention of {@code count} query tokens at positions params.pos.. (their K/V already cached). */
    public void attnPrefill(CUstream stream, CUdeviceptr q, CUdeviceptr kCache, CUdeviceptr vCache, CUdeviceptr params,
                            CUdeviceptr out, int count, int heads, int kvHeads, int headDim) {
        attnPrefill(stream, q, kCache, vCache, params, out, count, heads, kvHeads, headDim, AttentionShape.of(headDim));
    }

    /** As above, scaled, soft-capped and windowed as {@code shape} says (see {@link #attnDecode}). */
    public void attnPrefill(CUstream stream, CUdeviceptr q, CUdeviceptr kCache, CUdeviceptr vCache, CUdeviceptr params,
                            CUdeviceptr out, int count, int heads, int kvHeads, int headDim, AttentionShape shape) {
        attnPrefill(stream, q, kCache, vCache, params, out, count, heads, kvHeads, headDim, shape, false);
    }

    /**
     * As above; {@code bidirectional}: the {@code count} tokens are a whole sequence from position 0 of its cache
     * (an embedding model trained without the causal mask), and every one attends to all of them
     * ({@code attn_prefill_bidir}, the same kernel compiled without the mask; no window allowed).
     */
    public void attnPrefill(CUstream stream, CUdeviceptr q, CUdeviceptr kCache, CUdeviceptr vCache, CUdeviceptr params,
                            CUdeviceptr out, int count, int heads, int kvHeads, int headDim, AttentionShape shape,
                            boolean bidirectional) {
        if (bidirectional && shape.window() != 0) {
            throw new IllegalArgumentException("bidirectional attention with a sliding window of " + shape.window()
                    + " positions; a bidirectional sequence attends to all of its positions");
        }
        int shared = 4 * PREFILL_QUERIES * headDim + 2 * PREFILL_KEYS * (headDim + 2) + 2 * PREFILL_KEYS * headDim;
        launch(bidirectional ? "attn_prefill_bidir" : "attn_prefill", stream, heads, (count + PREFILL_QUERIES - 1) / PREFILL_QUERIES, 32 * ATT_WARPS, shared,
                q, kCache, vCache, params, out, count, heads, kvHeads, headDim, shape.scale(), shape.softcap(),
                shape.window(), shape.ring());
    }

    /**
     * How one block's attention reads its cache: the score scale (1/√headDim unless the model says otherwise), the
     * soft-cap (0: none), the window (0: every position) and the ring the cache rows form (0: row = position).
     */
    public record AttentionShape(float scale, float softcap, int window, int ring) {

        /** Plain causal attention over every position, scaled by 1/√headDim. */
        public static AttentionShape of(int headDim) {
            return new AttentionShape((float) (1.0 / Math.sqrt(headDim)), 0f, 0, 0);
        }
    }

    /** Whether {@link #gemm} takes an [n][k] weight. */
    public static boolean gemmShapeOk(int n, int k) {
        return n % GEMM_N == 0 && k % GEMM_K == 0;
    }

    /** C[m][n] (+)= A[m][k] · B[n][k]^T with fp16 A and B, fp32 C. */
    public void gemm(CUstream stream, CUdeviceptr a, CUdeviceptr b, CUdeviceptr c, int m, int n, int k,
                     boolean accumulate) {
        if (!gemmShapeOk(n, k)) {
            throw new IllegalArgumentException("gemm needs n % " + GEMM_N + " == 0 and k % " + GEMM_K + " == 0: n=" + n
                    + ", k=" + k);
        }
        int rows = gemmBlockRows(m, n, multiprocessors);
        // grid (row tiles, feature tiles): blocks in flight together share weight tiles (gemm_prefill.cuh)
        cuLaunchKernel(rows == 128 ? gemm128 : gemm64, (m + rows - 1) / rows, n / GEMM_N, 1, 256, 1, 1,
                gemmSharedBytes(rows), stream, args(a, b, c, m, n, k, accumulate ? 1 : 0), null);
    }

    /**
     * Token rows per block of the prefill GEMM: 128 (gemm_f16_m128, half the shared-memory reads per multiply) where
     * those tiles give at least half the multiprocessors a block, else 64 (twice the blocks). Measured on an H100
     * (132 SMs, tests/gpu/gemm_bench.cu, 512-token chunks): 128 rows won with 96 tiles (a 3B model's 3072-wide
     * projections: 65.6 vs 67.2 µs) and 128 tiles (8B's 4096-wide: 84.9 vs 101.2 µs), 64 rows with 32 tiles (the
     * 1024-wide K/V projections: 42.5 vs 65.2 µs).
     */
    static int gemmBlockRows(int m, int n, int multiprocessors) {
        return 2L * (n / GEMM_N) * ((m + 127) / 128) >= multiprocessors ? 128 : 64;
    }

    /** Dynamic shared memory of a prefill GEMM block of {@code blockRows} token rows. */
    static int gemmSharedBytes(int blockRows) {
        return GEMM_STAGES * (blockRows + GEMM_N) * GEMM_ROW_HALVES * 2;
    }

    // ------------------------------------------------------------------ small-batch GEMM (gemm_small.cuh)

    /** Output features per small-GEMM block and K per decoded chunk (SG_N, SG_K in gemm_small.cuh). */
    public static final int SMALL_GEMM_N = 64;
    public static final int SMALL_GEMM_K = 256;
    /** The most rows of A one small-GEMM launch takes (16 × its largest row-tile count). */
    public static final int SMALL_GEMM_MAX_ROWS = 64;
    static final int SMALL_GEMM_THREADS = 256;
    /**
     * Blocks a small-GEMM launch aims at (K is split until its tiles reach it): about four per SM of an H100, which
     * keeps enough weight bytes in flight to read at HBM speed; smaller GPUs queue the surplus.
     */
    public static final int SMALL_GEMM_TARGET_BLOCKS = 512;
    private final CUfunction[][] smallGemm = new CUfunction[GgmlType.values().length][3];

    /** Whether {@link #gemmSmall} takes a [rows][cols] matrix of {@code type}. */
    public static boolean smallGemmOk(GgmlType type, int rows, int cols) {
        return type != GgmlType.F32 && SUPPORTED.contains(type) && rows % SMALL_GEMM_N == 0
                && cols % SMALL_GEMM_K == 0;
    }

    /**
     * Rows of A a small-GEMM launch of {@code m} rows reads (its row tiles are 16, 32 or 64 rows; rows past
     * {@code m} are read but their results dropped): A must hold at least this many.
     */
    public static int smallGemmRowsRead(int m) {
        return m <= 16 ? 16 : m <= 32 ? 32 : 64;
    }

    /**
     * Dynamic shared memory of a small-GEMM block whose row tiles take {@code tileRows} rows of A (SG_SMEM): the
     * chunk's 64 decoded weight rows and its activation rows, each padded to 264 halves.
     */
    static int smallGemmSharedBytes(int tileRows) {
        return (SMALL_GEMM_N + tileRows) * (SMALL_GEMM_K + 8) * 2;
    }

    /**
     * How many blocks split K of a launch of {@code tiles} output tiles (features / {@link #SMALL_GEMM_N}) over
     * {@code k} columns, so that about {@code targetBlocks} blocks run: 1 when the tiles alone are enough, else up
     * to one per chunk. Fewer than {@code 2 × targetBlocks} blocks in all, see {@link #smallGemmPartialFloats}.
     */
    public static int smallGemmSplits(int tiles, int k, int targetBlocks) {
        int chunks = k / SMALL_GEMM_K;
        if (tiles >= targetBlocks || chunks <= 1) {
            return 1;
        }
        int splits = Math.min(chunks, (targetBlocks + tiles - 1) / tiles);
        int perSplit = (chunks + splits - 1) / splits;
        return (chunks + perSplit - 1) / perSplit;
    }

    /** Floats of split-K partial tiles that launches split by {@link #smallGemmSplits} with this target need. */
    public static long smallGemmPartialFloats(int targetBlocks) {
        return 2L * targetBlocks * SMALL_GEMM_MAX_ROWS * SMALL_GEMM_N;
    }

    /**
     * {@code y_i[m][rows_i]} (+)= A[m][k] · W_i^T for up to three matrices W_i of one format (segments, as in
     * {@link #matvec}; {@code rows1}/{@code rows2} 0 when absent), A fp16 with at least
     * {@link #smallGemmRowsRead}(m) rows, m ≤ {@link #SMALL_GEMM_MAX_ROWS}. The weights are decoded in shared
     * memory per chunk and multiplied on tensor cores; K is split over {@code splits} blocks per tile whose
     * partial tiles ({@code partial}) the tile's last block adds up in order ({@code counters}: one int per tile,
     * zero between launches).
     */
    public void gemmSmall(CUstream stream, GgmlType type, CUdeviceptr w0, CUdeviceptr w1, CUdeviceptr w2, int rows0,
                          int rows1, int rows2, long rowBytes, int k, CUdeviceptr a, CUdeviceptr y0, CUdeviceptr y1,
                          CUdeviceptr y2, int m, boolean accumulate, int splits, CUdeviceptr partial,
                          CUdeviceptr counters) {
        if (!smallGemmOk(type, rows0, k) || rows1 % SMALL_GEMM_N != 0 || rows2 % SMALL_GEMM_N != 0) {
            throw new IllegalArgumentException("gemmSmall takes F16..IQ4_XS rows in multiples of " + SMALL_GEMM_N
                    + " with k % " + SMALL_GEMM_K + " == 0: " + type + " rows " + rows0 + "/" + rows1 + "/" + rows2
                    + ", k=" + k);
        }
        if (m < 1 || m > SMALL_GEMM_MAX_ROWS) {
            throw new IllegalArgumentException("gemmSmall takes 1.." + SMALL_GEMM_MAX_ROWS + " rows: " + m);
        }
        int chunks = k / SMALL_GEMM_K;
        int perSplit = (chunks + Math.max(1, splits) - 1) / Math.max(1, splits);
        int gridY = (chunks + perSplit - 1) / perSplit;
        int tiles = (rows0 + rows1 + rows2) / SMALL_GEMM_N;
        int t = m <= 16 ? 0 : m <= 32 ? 1 : 2;
        int shared = smallGemmSharedBytes(smallGemmRowsRead(m));
        CUfunction f = smallGemm[type.ordinal()][t];
        if (f == null) {
            f = function("gemm_small_" + suffix(type) + "_t" + (1 << t));
            cuFuncSetAttribute(f, CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, shared);
            smallGemm[type.ordinal()][t] = f;
        }
        cuLaunchKernel(f, tiles, gridY, 1, SMALL_GEMM_THREADS, 1, 1, shared, stream,
                args(w0, w1, w2, rows0, rows1, rows2, rowBytes, k, a, y0, y1, y2, m, accumulate ? 1 : 0, perSplit,
                        partial, counters), null);
    }

    @Override
    public void close() {
        cuModuleUnload(module);
        functions.clear();
    }
}

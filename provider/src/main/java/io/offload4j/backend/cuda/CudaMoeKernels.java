package io.offload4j.backend.cuda;

import io.offload4j.gguf.GgmlType;
import java.util.EnumSet;
import java.util.Set;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;

/**
 * The launches of a sparse block's FFN (mixture of experts; kernels in {@code moe.cuh} and {@code moe_gemm.cuh}): the
 * router's top-k, the per-slot and grouped matrix-vector expert kernels, the tensor-core grouped kernels of prompt
 * steps, and the combine into the residual stream. Launched through the loaded module of a {@link CudaKernels}.
 */
final class CudaMoeKernels {

    /** Warps per block of the matrix-vector expert kernels (MV_WARPS). */
    private static final int WARPS = CudaKernels.MV_WARPS;
    private final CudaKernels kernels;

    CudaMoeKernels(CudaKernels kernels) {
        this.kernels = kernels;
    }

    // ---------------------------------------------------------- routing and matrix-vector expert kernels (moe.cuh)

    /**
     * Softmax of each of {@code count} rows of {@code experts} router logits (in place), the {@code k} most
     * probable experts into {@code chosen} ([count][k] ints) and their probabilities, renormalised when
     * {@code normalize}, times {@code scale}, into {@code weights}.
     */
    public void topk(CUstream stream, CUdeviceptr logits, CUdeviceptr chosen, CUdeviceptr weights, int experts,
                     int k, boolean normalize, float scale, int count) {
        kernels.launch("moe_topk", stream, count, 1, 32, 0, logits, chosen, weights, experts, k, normalize ? 1 : 0,
                scale);
    }

    /**
     * Whether {@link #routerTopK1} takes a router of {@code type} with rows of {@code cols}: the float formats (GGUF
     * files keep routers in F32; Hugging Face checkpoints in F16 or BF16) in whole vector units.
     */
    public static boolean routerTopK1Fits(GgmlType type, int cols) {
        return (type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16)
                && CudaKernels.vectorisable(type, cols);
    }

    /**
     * One token's router logits ({@code experts} rows of {@code router} times {@code x}) and {@link #topk} of them in
     * one launch: the launch's last block to finish selects ({@code moe_router_topk1}, which uses {@code ticket}, a
     * device int that is 0 between launches). Launches with the same ticket must be on one stream.
     */
    public void routerTopK1(CUstream stream, GgmlType type, CUdeviceptr router, int experts, long rowBytes, int cols,
                            CUdeviceptr x, CUdeviceptr logits, CUdeviceptr chosen, CUdeviceptr weights, int k,
                            boolean normalize, float scale, CUdeviceptr ticket) {
        if (!routerTopK1Fits(type, cols)) {
            throw new IllegalArgumentException("the fused router takes F32, F16 or BF16 rows in whole units, not "
                    + type + " rows of " + cols);
        }
        int warps = CudaKernels.matvecWarps(1, CudaKernels.STORE, experts, 0, 0);
        kernels.launch("moe_router_topk1_" + CudaKernels.suffix(type), stream, (warps + WARPS - 1) / WARPS, 1,
                32 * WARPS, 0, router, experts, rowBytes, cols, x, logits, chosen, weights, k, normalize ? 1 : 0,
                scale, ticket);
    }

    /**
     * {@code h[s] = silu(gate_e · xb[s / k]) ⊙ (up_e · xb[s / k])} for each of {@code slots} (token, choice) slots,
     * e = chosen[s]: expert e's matrices are {@code e × stride} bytes after expert 0's.
     */
    public void gateUp(CUstream stream, GgmlType type, CUdeviceptr gate, CUdeviceptr up, long stride, int ffn,
                       long rowBytes, int cols, CUdeviceptr xb, CUdeviceptr chosen, int k, CUdeviceptr h,
                       int slots) {
        requireVectorisable(type, cols);
        kernels.launch("moe_gate_up_" + CudaKernels.suffix(type), stream, (ffn + WARPS - 1) / WARPS, slots, 32 * WARPS,
                0,
                gate, up, stride, ffn, rowBytes, cols, xb, chosen, k, h);
    }

    /** {@code x[t] += Σ_j weights[t,j] · down_e · h[t,j]} for {@code count} tokens, e = chosen[t,j]. */
    public void down(CUstream stream, GgmlType type, CUdeviceptr down, long stride, int dim, long rowBytes, int ffn,
                     CUdeviceptr h, CUdeviceptr chosen, CUdeviceptr weights, int k, CUdeviceptr x, int count) {
        requireVectorisable(type, ffn);
        kernels.launch("moe_down_" + CudaKernels.suffix(type), stream, (dim + WARPS - 1) / WARPS, count, 32 * WARPS, 0,
                down, stride, dim, rowBytes, ffn, h, chosen, weights, k, x);
    }

    /**
     * {@link #gateUp} for one token's {@code slots} slots whose input row {@link CudaInt8Kernels#quantize} has
     * quantized (xq, xd, xs: one row of {@code cols}), for formats where {@link CudaInt8Kernels#fits} holds.
     */
    public void gateUpX8(CUstream stream, GgmlType type, CUdeviceptr gate, CUdeviceptr up, long stride, int ffn,
                         long rowBytes, int cols, CUdeviceptr xq, CUdeviceptr xd, CUdeviceptr xs, CUdeviceptr chosen,
                         int k, CUdeviceptr h, int slots) {
        CudaInt8Kernels.require(type, cols);
        kernels.launch("moe_gate_up_x8_" + CudaKernels.suffix(type), stream, (ffn + WARPS - 1) / WARPS, slots,
                32 * WARPS, 0, gate, up, stride, ffn, rowBytes, cols, xq, xd, xs, chosen, k, h);
    }

    /** {@link #down} for one token from its slots' hidden states quantized row by row (hq, hd, hs: k rows of ffn). */
    public void downX8(CUstream stream, GgmlType type, CUdeviceptr down, long stride, int dim, long rowBytes, int ffn,
                       CUdeviceptr hq, CUdeviceptr hd, CUdeviceptr hs, CUdeviceptr chosen, CUdeviceptr weights, int k,
                       CUdeviceptr x) {
        CudaInt8Kernels.require(type, ffn);
        kernels.launch("moe_down_x8_" + CudaKernels.suffix(type), stream, (dim + WARPS - 1) / WARPS, 1, 32 * WARPS, 0,
                down, stride, dim, rowBytes, ffn, hq, hd, hs, chosen, weights, k, x);
    }

    /** Slots of one expert that one grouped-kernel warp computes per weight row it decodes (MOE_TILE). */
    public static final int TILE = 8;
    /** Slots of one expert that one tensor-core grouped block multiplies per weight tile it decodes (MOE_TC_TILE). */
    public static final int TC_TILE = 64;
    private static final int GROUP_THREADS = 1024;

    /**
     * The most (expert, tile) work items {@link #group} lists for {@code slots} slots holding at most {@code ids}
     * distinct ids, in tiles of up to {@code tile} slots: every id with slots has one partial tile at most, so
     * ⌈slots / tile⌉ + min(ids, slots). An expert pool's pass holds pool slot numbers, but no more distinct ones
     * than the model has experts.
     */
    public static int maxItems(int slots, int ids, int tile) {
        return (slots + tile - 1) / tile + Math.min(ids, slots);
    }

    /**
     * Groups the {@code slots} (token, choice) slots by expert: a stable counting sort of {@code chosen} (ids
     * 0..ids-1; negative ids are dropped) into {@code order} (slots expert by expert, each in slot order), and the
     * work list of the grouped kernels into {@code items} (3 ints per tile of up to {@code tile} slots of one
     * expert: expert, first index into order, length) and {@code itemCount} (2 ints: the items, the slots placed in
     * order). {@code counts} is scratch of {@code ids} ints. {@code maxItems}: the room in items, at least
     * {@link #maxItems} for the number of distinct ids chosen (the kernel writes no further). {@code tile}:
     * {@link #TILE} for {@link #gateUpGrouped}, {@link #TC_TILE} for {@link #gateUpTc}. One block.
     */
    public void group(CUstream stream, CUdeviceptr chosen, int slots, int ids, CUdeviceptr counts,
                      CUdeviceptr order, CUdeviceptr items, CUdeviceptr itemCount, int maxItems, int tile) {
        kernels.launch("moe_group", stream, 1, 1, GROUP_THREADS, 0, chosen, slots, ids, counts, order, items, itemCount,
                maxItems, tile);
    }

    /**
     * {@link #gateUp} over the work list of {@link #group} (tiles of {@link #TILE}): each warp decodes a
     * row of gate and up once for a tile of up to {@link #TILE} slots of its expert. {@code maxItems}: the
     * list's bound ({@link #maxItems}), the grid's height (blocks past the actual count return at once).
     */
    public void gateUpGrouped(CUstream stream, GgmlType type, CUdeviceptr gate, CUdeviceptr up, long stride,
                              int ffn, long rowBytes, int cols, CUdeviceptr xb, int k, CUdeviceptr items,
                              CUdeviceptr itemCount, CUdeviceptr order, CUdeviceptr h, int maxItems) {
        requireVectorisable(type, cols);
        if (maxItems == 0) {
            return;
        }
        kernels.launch("moe_gate_up_grouped_" + CudaKernels.suffix(type), stream, (ffn + WARPS - 1) / WARPS, maxItems,
                32 * WARPS, 0, gate, up, stride, ffn, rowBytes, cols, xb, k, items, itemCount, order, h);
    }

    /**
     * {@code y[s] = down_e · h[s]} for every grouped slot s (y is [slots][dim]), tile by tile as
     * {@link #gateUpGrouped}; {@link #combine} then adds them into the residual stream.
     */
    public void downGrouped(CUstream stream, GgmlType type, CUdeviceptr down, long stride, int dim, long rowBytes,
                            int ffn, CUdeviceptr h, CUdeviceptr items, CUdeviceptr itemCount, CUdeviceptr order,
                            CUdeviceptr y, int maxItems) {
        requireVectorisable(type, ffn);
        if (maxItems == 0) {
            return;
        }
        kernels.launch("moe_down_grouped_" + CudaKernels.suffix(type), stream, (dim + WARPS - 1) / WARPS, maxItems,
                32 * WARPS,
                0, down, stride, dim, rowBytes, ffn, h, items, itemCount, order, y);
    }

    // ------------------------------------------------------------------ MoE prompts on tensor cores (moe_gemm.cuh)

    /**
     * Whether a block's routed experts can take the tensor-core grouped kernels: gate/up matrices of {@code gateUp}
     * ([ffn][dim]) and down matrices of {@code down} ([dim][ffn]) in formats the small GEMM decodes (not F32), with
     * features in multiples of {@link CudaKernels#SMALL_GEMM_N} and K in multiples of {@link CudaKernels#SMALL_GEMM_K}.
     */
    public static boolean tensorCoresOk(GgmlType gateUp, GgmlType down, int dim, int ffn) {
        return CudaKernels.smallGemmOk(gateUp, ffn, dim) && CudaKernels.smallGemmOk(down, dim, ffn)
                && TC_FORMATS.contains(gateUp)
                && TC_FORMATS.contains(down);
    }

    /** The formats moe_gemm.cuh is instantiated for (the expert formats of moe.cuh less F32). */
    private static final Set<GgmlType> TC_FORMATS = EnumSet.of(GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K);

    /**
     * Rows of the fp16 inputs ({@link #gatherF16}) and hidden states ({@link #gateUpTc}) of the tensor-core
     * grouped kernels for {@code slots} slots: a tile's last fragments read up to {@link #TC_TILE} - 1 rows past
     * the placed slots (multiplied, never stored).
     */
    public static long tensorCoreRows(int slots) {
        return (long) slots + TC_TILE;
    }

    /**
     * {@code a[i] = (half) x[order[i] / k]} for the slots {@link #group} placed ({@code itemCount[1]} of at most
     * {@code slots}): each slot's input row, in expert order. {@code cols % 4 == 0}.
     */
    public void gatherF16(CUstream stream, CUdeviceptr x, CUdeviceptr order, CUdeviceptr itemCount, int k,
                          int cols, CUdeviceptr a, int slots) {
        if (cols % 4 != 0) {
            throw new IllegalArgumentException("moe_gather_f16 reads rows four floats at a time: " + cols + " columns");
        }
        if (slots == 0) {
            return;
        }
        kernels.launch("moe_gather_f16", stream, slots, 1, 128, 0, x, order, itemCount, k, cols, a);
    }

    /**
     * {@code hg[i] = (half) silu(gate_e · a[i]) ⊙ (up_e · a[i])} for the grouped slots i (in expert order) of each
     * item of {@link #group}'s list made with tile {@link #TC_TILE}: one block per 64 features and item,
     * weights decoded once per item into shared memory, all of the item's rows multiplied on tensor cores.
     * {@code maxItems}: the list's bound, the grid's height.
     */
    public void gateUpTc(CUstream stream, GgmlType type, CUdeviceptr gate, CUdeviceptr up, long stride, int ffn,
                         long rowBytes, int cols, CUdeviceptr a, CUdeviceptr items, CUdeviceptr itemCount,
                         CUdeviceptr hg, int maxItems) {
        requireTensorCores(type, ffn, cols);
        if (maxItems == 0) {
            return;
        }
        kernels.launch("moe_gate_up_tc_" + CudaKernels.suffix(type), stream, ffn / CudaKernels.SMALL_GEMM_N, maxItems,
                CudaKernels.SMALL_GEMM_THREADS, 0, gate,
                up, stride, ffn, rowBytes, cols, a, items, itemCount, hg);
    }

    /**
     * {@code y[order[i]] = down_e · hg[i]} for the grouped slots i of each item (y is [slots][dim], in slot order),
     * as {@link #gateUpTc}; {@link #combine} then adds them into the residual stream.
     */
    public void downTc(CUstream stream, GgmlType type, CUdeviceptr down, long stride, int dim, long rowBytes,
                       int ffn, CUdeviceptr hg, CUdeviceptr items, CUdeviceptr itemCount, CUdeviceptr order,
                       CUdeviceptr y, int maxItems) {
        requireTensorCores(type, dim, ffn);
        if (maxItems == 0) {
            return;
        }
        kernels.launch("moe_down_tc_" + CudaKernels.suffix(type), stream, dim / CudaKernels.SMALL_GEMM_N, maxItems,
                CudaKernels.SMALL_GEMM_THREADS, 0, down,
                stride, dim, rowBytes, ffn, hg, items, itemCount, order, y);
    }

    private static void requireTensorCores(GgmlType type, int rows, int cols) {
        if (!CudaKernels.smallGemmOk(type, rows, cols) || !TC_FORMATS.contains(type)) {
            throw new IllegalArgumentException("the tensor-core expert kernels take " + TC_FORMATS + " matrices"
                    + " with rows % " + CudaKernels.SMALL_GEMM_N + " == 0 and columns % " + CudaKernels.SMALL_GEMM_K
                    + " == 0: " + type + " ["
                    + rows + "][" + cols + "]");
        }
    }

    /**
     * {@code x[t] += Σ_j weights[t,j] · y[t,j]} for {@code count} tokens, j in choice order, skipping negative ids
     * (summed as {@link #down} sums).
     */
    public void combine(CUstream stream, CUdeviceptr y, CUdeviceptr chosen, CUdeviceptr weights, int k, int dim,
                        CUdeviceptr x, int count) {
        kernels.launch("moe_combine", stream, (dim + 255) / 256, count, 256, 0, y, chosen, weights, k, dim, x);
    }

    /** {@code h[t] *= sigmoid(gateInput · xb[t])} for {@code count} tokens (the shared expert's gate). */
    public void sharedScale(CUstream stream, CUdeviceptr xb, CUdeviceptr gateInput, CUdeviceptr h, int dim, int ffn,
                            int count) {
        kernels.launch("moe_shared_scale", stream, count, 1, 128, 0, xb, gateInput, h, dim, ffn);
    }

    private static void requireVectorisable(GgmlType type, int cols) {
        if (!CudaKernels.vectorisable(type, cols)) {
            throw new IllegalArgumentException("expert rows of " + cols + " " + type + " elements: the expert kernels"
                    + " need a multiple of " + CudaKernels.unit(type));
        }
    }
}

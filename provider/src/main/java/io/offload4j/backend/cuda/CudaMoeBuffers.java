package io.offload4j.backend.cuda;

import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.MoeConfig;
import java.util.function.Function;
import java.util.function.LongFunction;
import jcuda.driver.CUdeviceptr;

/**
 * The device buffers of a mixture of experts' sparse FFN, for up to {@code rows} tokens, allocated with the
 * workspace: the normalised input, the router's logits (softmax in place), each token's chosen experts and their
 * weights, the chosen experts' hidden states, the shared expert's hidden state, and each block's shared-expert gate
 * vector; when steps of this many rows can take the grouped expert kernels ({@link #grouped}), their scratch too:
 * the slots ordered by expert, the (expert, tile) work list, per-id counts and each slot's output row.
 */
final class CudaMoeBuffers {

    /**
     * Fewest tokens a step needs for the grouped expert kernels. Decode steps (one token, small batches) keep the
     * per-slot kernels: they are captured as CUDA graphs, and with a handful of slots nearly every chosen expert has a
     * single slot, so grouping would only add its two launches (moe_group, moe_combine) and the round trip of y.
     */
    static final int GROUPED_MIN_TOKENS = 16;
    /** Largest grid height (CUDA's limit on gridDim.y): the grouped kernels' work list must fit it. */
    private static final int MAX_GRID_Y = 65535;

    final CUdeviceptr xb;
    final CUdeviceptr logits;
    final CUdeviceptr chosen;
    final CUdeviceptr weights;
    final CUdeviceptr hidden;
    /** One token's k hidden states quantized to 8 bits (values, scales per 32, sums per 16), for decode. */
    final CUdeviceptr hiddenQ;
    final CUdeviceptr hiddenD;
    final CUdeviceptr hiddenS;
    final CUdeviceptr sharedHidden;
    /** The ticket counter of moe_router_topk1 (one int, zero between launches: the launch's last block resets it). */
    final CUdeviceptr routerTicket;
    /** Grouped-kernel scratch (null when no step of {@code rows} rows groups): see {@link CudaMoeKernels#group}. */
    final CUdeviceptr groupOrder;
    final CUdeviceptr groupItems;
    final CUdeviceptr groupItemCount;
    /** Each slot's down-projection row, [rows × k][dim], summed per token by {@code moe_combine}. */
    final CUdeviceptr groupY;
    /**
     * The tensor-core grouped kernels' fp16 rows in expert order (null when the model's shape does not fit them, see
     * {@link #tensorCoreShape}): each slot's input ([{@link CudaMoeKernels#tensorCoreRows}][dim]) and hidden state
     * ([...][expert ffn]).
     */
    final CUdeviceptr groupInputF16;
    final CUdeviceptr groupHiddenF16;
    /** Per-id counts: room for {@link #groupIds} ids (the experts, or an expert pool's slots). */
    private CUdeviceptr groupCounts;
    private int groupIds;
    private final LongFunction<CUdeviceptr> alloc;
    /** Per block: the shared expert's gate input vector, or null. */
    final CUdeviceptr[] sharedGateInput;

    CudaMoeBuffers(Model model, int rows, LongFunction<CUdeviceptr> alloc, Function<float[], CUdeviceptr> upload) {
        ModelConfig c = model.config();
        MoeConfig m = c.moe();
        int k = m.expertUsedCount();
        xb = alloc.apply(4L * rows * c.embeddingLength());
        logits = alloc.apply(4L * rows * m.expertCount());
        chosen = alloc.apply(4L * rows * k);
        weights = alloc.apply(4L * rows * k);
        hidden = alloc.apply(4L * rows * k * m.expertFeedForwardLength());
        long tokenHidden = (long) k * m.expertFeedForwardLength();
        hiddenQ = alloc.apply(tokenHidden);
        hiddenD = alloc.apply(4L * (tokenHidden / 32));
        hiddenS = alloc.apply(4L * (tokenHidden / 16));
        sharedHidden = m.sharedFeedForwardLength() > 0 ? alloc.apply(4L * rows * m.sharedFeedForwardLength()) : null;
        routerTicket = upload.apply(new float[1]);  // 0.0f: the integer 0
        this.alloc = alloc;
        if (grouped(rows, k, m.expertCount())) {
            int slots = rows * k;
            groupOrder = alloc.apply(4L * slots);
            groupItems = alloc.apply(12L * maxItems(slots, m.expertCount()));
            groupItemCount = alloc.apply(8);
            groupY = alloc.apply(4L * slots * c.embeddingLength());
            groupIds = m.expertCount();
            groupCounts = alloc.apply(4L * groupIds);
            if (tensorCoreShape(c)) {
                long tcRows = CudaMoeKernels.tensorCoreRows(slots);
                groupInputF16 = alloc.apply(2L * tcRows * c.embeddingLength());
                groupHiddenF16 = alloc.apply(2L * tcRows * m.expertFeedForwardLength());
            } else {
                groupInputF16 = groupHiddenF16 = null;
            }
        } else {
            groupOrder = groupItems = groupItemCount = groupY = groupInputF16 = groupHiddenF16 = null;
        }
        sharedGateInput = new CUdeviceptr[c.blockCount()];
        for (int l = 0; l < sharedGateInput.length; l++) {
            BlockWeights b = model.weights().blocks().get(l);
            sharedGateInput[l] = b.moe() == null ? null : upload.apply(b.moe().sharedGateInput());
        }
    }

    /**
     * Whether a step of {@code count} tokens computes its routed experts with the grouped kernels: at least
     * {@link #GROUPED_MIN_TOKENS} tokens and on average two slots or more per expert ({@code count × k ≥ 2 ×
     * experts}), so that a tile decoded once serves several slots (Qwen3-30B-A3B: 32 tokens and up; 8 experts with 2
     * chosen: 16), and a work list that fits one grid dimension.
     */
    static boolean grouped(int count, int k, int experts) {
        long slots = (long) count * k;
        return count >= GROUPED_MIN_TOKENS && slots >= 2L * experts
                && (slots + CudaMoeKernels.TILE - 1) / CudaMoeKernels.TILE + experts <= MAX_GRID_Y;
    }

    /**
     * Room in the work list for {@code slots} slots of at most {@code experts} distinct ids: the bound of the finer
     * tiling ({@link CudaMoeKernels#TILE}), which the tensor-core one ({@link CudaMoeKernels#TC_TILE}) never exceeds.
     */
    static int maxItems(int slots, int experts) {
        return CudaMoeKernels.maxItems(slots, experts, CudaMoeKernels.TILE);
    }

    /**
     * Whether the model's expert matrices have the shape the tensor-core grouped kernels take (whether their formats
     * do is decided per block, {@link CudaMoeKernels#tensorCoresOk}).
     */
    static boolean tensorCoreShape(ModelConfig c) {
        int dim = c.embeddingLength(), ffn = c.moe().expertFeedForwardLength();
        return dim % CudaKernels.SMALL_GEMM_N == 0 && dim % CudaKernels.SMALL_GEMM_K == 0
                && ffn % CudaKernels.SMALL_GEMM_N == 0 && ffn % CudaKernels.SMALL_GEMM_K == 0;
    }

    /** Whether this step's routed experts take the grouped kernels (and their scratch exists). */
    boolean groupedStep(int count, int k, int experts) {
        return groupY != null && grouped(count, k, experts);
    }

    /** The per-id count scratch of the grouping, {@link #groupIds} ints. */
    CUdeviceptr groupCounts() {
        return groupCounts;
    }

    /** How many ids the grouping can sort (ids are expert numbers, or slots of an expert pool). */
    int groupIds() {
        return groupIds;
    }

    /**
     * Makes room for ids up to {@code ids} - 1 in the grouping: an expert pool's slot numbers replace the expert ids
     * in its blocks' choices. Called when the pool is made, never during a step.
     */
    void reserveGroupIds(int ids) {
        if (groupY != null && ids > groupIds) {
            groupCounts = alloc.apply(4L * ids);  // the old one is freed with the workspace
            groupIds = ids;
        }
    }

    /** Device bytes these buffers take for {@code rows} tokens (before they are allocated). */
    static long estimate(ModelConfig c, int rows) {
        MoeConfig m = c.moe();
        if (m == null) {
            return 0;
        }
        int k = m.expertUsedCount();
        long grouped = 0;
        if (grouped(rows, k, m.expertCount())) {
            long slots = (long) rows * k;
            grouped = 4L * slots + 12L * maxItems((int) slots, m.expertCount()) + 8
                    + 4L * slots * c.embeddingLength() + 4L * m.expertCount();
            if (tensorCoreShape(c)) {
                grouped += 2L * CudaMoeKernels.tensorCoreRows((int) slots)
                        * (c.embeddingLength() + m.expertFeedForwardLength());
            }
        }
        return grouped + 4L * rows * (c.embeddingLength() + m.expertCount() + 2L * k + (long) k * m.expertFeedForwardLength()
                + m.sharedFeedForwardLength()) + 4L * c.blockCount() * c.embeddingLength()
                + 2L * k * m.expertFeedForwardLength() // one token's hidden states in 8 bits
                + 4; // the router's ticket
    }
}

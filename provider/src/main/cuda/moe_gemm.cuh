// ---------------------------------------------------------------------------------------------
// Mixture of experts, prompt steps on tensor cores: grouped expert GEMMs on weights decoded in shared memory
// ---------------------------------------------------------------------------------------------
//
// The grouped kernels of moe.cuh give each warp one weight row of one expert and a tile of MOE_TILE (8) of that
// expert's slots, multiplied in fp32 on the CUDA cores: every weight is decoded once per 8 slots, and a 512-token
// prompt of Qwen3-30B-A3B (4,096 slots over 128 experts) spends its time there. These kernels take what
// gemm_small.cuh does for batched decode steps to the experts: a block takes 64 output features of one expert and a
// tile of up to MOE_TC_TILE (64) of its slots (one item of moe_group's work list, made with tile = MOE_TC_TILE),
// decodes the 64 × 256 weights of each chunk straight from the GGUF format into shared memory as fp16, and
// multiplies all of the tile's rows on tensor cores, so each weight is decoded once per 64 slots.
//
// The slots' inputs are gathered first (moe_gather_f16): row i of `a` is the fp16 input of the i-th slot in
// expert order (order[i]), so one tile's rows are consecutive and load as wmma fragments. The gate/up kernel writes
// its output the same way (row i: silu(gate · x) ⊙ (up · x) of slot order[i], fp16), which is the down kernel's
// input; the down kernel scatters each row to its slot's row of y, which moe_combine adds into the residual stream.
// Rows past a tile's length (the next expert's, or the buffers' 64 spare rows) are multiplied but not stored.
//
// Layout of a block (as gemm_small's): 8 warps = 4 groups of 16 features x the two halves of each chunk's 256
// columns; each warp keeps a 16 x 16 accumulator per 16 rows of the tile (4) and per matrix (gate and up: 2), and
// skips the row groups past the tile's length. Needs features % 64 == 0 and K % 256 == 0 (the Java side checks:
// CudaMoeKernels.tensorCoresOk); the formats are gemm_small's.
#define MOE_TC_TILE 64
#define MOE_TC_MT (MOE_TC_TILE / 16)

// a[i][c] = (half) x[order[i] / k][c] for the i < itemCount[1] slots moe_group placed: grid (slots), 128 threads,
// cols % 4 == 0. Blocks past the placed slots return at once.
extern "C" __global__ void moe_gather_f16(const float* __restrict__ x, const int* __restrict__ order,
                                          const int* __restrict__ itemCount, int k, int cols, __half* a) {
    const int i = blockIdx.x;
    if (i >= itemCount[1]) return;
    const float4* src = reinterpret_cast<const float4*>(x + (size_t)(order[i] / k) * cols);
    __half2* dst = reinterpret_cast<__half2*>(a + (size_t)i * cols);
    for (int c = threadIdx.x; c < cols / 4; c += blockDim.x) {
        float4 v = src[c];
        dst[2 * c] = __floats2half2_rn(v.x, v.y);
        dst[2 * c + 1] = __floats2half2_rn(v.z, v.w);
    }
}

// The accumulators of one block: [matrix][row group], 16 x 16 fp32 each.
typedef nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> MoeAcc;

// One item of moe_group's work list (tiles of MOE_TC_TILE): its expert, first index into order[] (and first row of
// the gathered buffers), number of slots, and the 16-row groups those fill.
struct MoeTcItem {
    int expert, start, len, groups;
};

__device__ __forceinline__ MoeTcItem moe_tc_item(const int* __restrict__ items, int item) {
    MoeTcItem it;
    it.expert = items[3 * item];
    it.start = items[3 * item + 1];
    it.len = items[3 * item + 2];
    it.groups = (it.len + 15) / 16;
    return it;
}

// Multiplies the tile's rows (16 x `groups` of them, from `a`, K columns) by 64 rows of each of MATS matrices of one
// expert (w0, and w1 when MATS is 2: the first of the block's rows), into acc[matrix][group] (this warp's 16 features and half of
// each chunk's columns). Chunks of the matrices follow one another (all of w0's, then w1's), and each one's
// weight loads are issued before the tensor cores multiply the one before it.
template <int TYPE, int MATS>
__device__ __forceinline__ void moe_tc_multiply(const uint8_t* w0, const uint8_t* w1, long long rowBytes, int K,
                                                const __half* a, int groups, __half* ws, MoeAcc (*acc)[MOE_TC_MT]) {
    using namespace nvcuda;
    typedef Fmt<TYPE> F;
    constexpr int UPR = SG_K / F::UNIT;           // units per row in a chunk
    constexpr int PER = SG_N * UPR / SG_THREADS;  // units per thread per chunk
    static_assert(SG_N * UPR % SG_THREADS == 0, "whole units per thread");
    static_assert(F::RUNLEN % 8 == 0, "runs of whole 16-byte stores");
    const int tid = threadIdx.x, warp = tid >> 5;
    const int wn = warp & 3, wk = warp >> 2;
    const int chunks = K / SG_K, jobs = MATS * chunks;

    typename F::Raw raw[PER];
    auto fetch = [&](int j) { sg_fetch_chunk<TYPE, PER>(raw, j < chunks ? w0 : w1, rowBytes, j % chunks); };
    fetch(0);
    for (int j = 0; j < jobs; j++) {
        const int c = j % chunks;
        sg_store_chunk<TYPE, PER>(raw, c, ws);
        __syncthreads();
        if (j + 1 < jobs) fetch(j + 1);  // in flight while the tensor cores work on this chunk
        const int mat = j / chunks;
        const __half* a0 = a + (size_t)c * SG_K;
#pragma unroll 4
        for (int kk = wk * (SG_K / 2); kk < (wk + 1) * (SG_K / 2); kk += 16) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
            wmma::load_matrix_sync(b, ws + wn * 16 * SG_LD + kk, SG_LD);
#pragma unroll
            for (int m = 0; m < MOE_TC_MT; m++) {
                if (m < groups) {  // the same for the whole block: the tile's length
                    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> af;
                    wmma::load_matrix_sync(af, a0 + (size_t)m * 16 * K + kk, K);
#pragma unroll
                    for (int q = 0; q < MATS; q++) {
                        if (q == mat) wmma::mma_sync(acc[q][m], af, b, acc[q][m]);
                    }
                }
            }
        }
        __syncthreads();
    }
}

// The block's [64 rows][64 features] result of matrix q: the two column halves' accumulators through shared memory
// (st, 2 x 64 x 64 floats over the weight buffer), added as st[e] + st[HALF + e] by the caller after a barrier.
__device__ __forceinline__ void moe_tc_stage(MoeAcc* acc, int groups, float* st) {
    using namespace nvcuda;
    constexpr int HALF = MOE_TC_TILE * SG_N;
    const int warp = threadIdx.x >> 5, wn = warp & 3, wk = warp >> 2;
#pragma unroll
    for (int m = 0; m < MOE_TC_MT; m++) {
        if (m < groups) wmma::store_matrix_sync(st + wk * HALF + m * 16 * SG_N + wn * 16, acc[m], SG_N,
                                                wmma::mem_row_major);
    }
}

// hg[start + t][r] = (half) silu(gate_e[r] . a[start + t]) * (up_e[r] . a[start + t]) for the t < len slots of
// item blockIdx.y (expert e, first row start, len), r in the block's 64 features: grid (ffn / 64, bound on items).
template <int TYPE>
__device__ __forceinline__ void moe_gate_up_tc_body(const uint8_t* __restrict__ gate, const uint8_t* __restrict__ up,
                                                    long long stride, int ffn, long long rowBytes, int cols,
                                                    const __half* __restrict__ a, const int* __restrict__ items,
                                                    const int* __restrict__ itemCount, __half* hg) {
    using namespace nvcuda;
    __shared__ __align__(128) __half ws[SG_N * SG_LD];
    const int item = blockIdx.y;
    if (item >= itemCount[0]) return;
    const MoeTcItem it = moe_tc_item(items, item);
    const int start = it.start, len = it.len, groups = it.groups, n0 = blockIdx.x * SG_N;
    const size_t first = (size_t)it.expert * stride + (size_t)n0 * rowBytes;
    MoeAcc acc[2][MOE_TC_MT];
#pragma unroll
    for (int q = 0; q < 2; q++)
#pragma unroll
        for (int m = 0; m < MOE_TC_MT; m++) wmma::fill_fragment(acc[q][m], 0.f);
    moe_tc_multiply<TYPE, 2>(gate + first, up + first, rowBytes, cols, a + (size_t)start * cols, groups, ws, acc);

    constexpr int HALF = MOE_TC_TILE * SG_N, PER = HALF / SG_THREADS;
    float* st = reinterpret_cast<float*>(ws);
    static_assert(2 * HALF * sizeof(float) <= SG_N * SG_LD * sizeof(__half), "both halves fit the weight buffer");
    float g[PER];
    moe_tc_stage(acc[0], groups, st);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < PER; i++) {
        int x = threadIdx.x + SG_THREADS * i;
        g[i] = st[x] + st[HALF + x];
    }
    __syncthreads();
    moe_tc_stage(acc[1], groups, st);
    __syncthreads();
#pragma unroll
    for (int i = 0; i < PER; i++) {
        int x = threadIdx.x + SG_THREADS * i, t = x / SG_N;
        if (t < len) {
            hg[(size_t)(start + t) * ffn + n0 + x % SG_N] = __float2half_rn(silu_mul(g[i], st[x] + st[HALF + x]));
        }
    }
}

// y[order[start + t]][r] = down_e[r] . hg[start + t] for the t < len slots of item blockIdx.y, r in the block's
// 64 features: grid (dim / 64, bound on items).
template <int TYPE>
__device__ __forceinline__ void moe_down_tc_body(const uint8_t* __restrict__ down, long long stride, int dim,
                                                 long long rowBytes, int ffn, const __half* __restrict__ hg,
                                                 const int* __restrict__ items, const int* __restrict__ itemCount,
                                                 const int* __restrict__ order, float* y) {
    using namespace nvcuda;
    __shared__ __align__(128) __half ws[SG_N * SG_LD];
    const int item = blockIdx.y;
    if (item >= itemCount[0]) return;
    const MoeTcItem it = moe_tc_item(items, item);
    const int start = it.start, len = it.len, groups = it.groups, n0 = blockIdx.x * SG_N;
    const uint8_t* w = down + (size_t)it.expert * stride + (size_t)n0 * rowBytes;
    MoeAcc acc[1][MOE_TC_MT];
#pragma unroll
    for (int m = 0; m < MOE_TC_MT; m++) wmma::fill_fragment(acc[0][m], 0.f);
    moe_tc_multiply<TYPE, 1>(w, nullptr, rowBytes, ffn, hg + (size_t)start * ffn, groups, ws, acc);

    constexpr int HALF = MOE_TC_TILE * SG_N;
    float* st = reinterpret_cast<float*>(ws);
    moe_tc_stage(acc[0], groups, st);
    __syncthreads();
    for (int x = threadIdx.x; x < len * SG_N; x += SG_THREADS) {
        int t = x / SG_N;
        y[(size_t)order[start + t] * dim + n0 + x % SG_N] = st[x] + st[HALF + x];
    }
}

// GU, DOWN: blocks per SM each kernel is compiled for (__launch_bounds__'s second argument). 2 holds a kernel to 128
// registers, which the formats fit with no spills (Q6_K down: 24 bytes) except F16/BF16 gate/up and Q5_K down (96 and
// 152 bytes of spills at 128 on sm_90): those keep one block per SM and the registers they need (177-248).
#define MOE_TC_INST(TYPE, NAME, GU, DOWN)                                                                          \
    extern "C" __global__ void __launch_bounds__(SG_THREADS, GU) moe_gate_up_tc_##NAME(                            \
        const uint8_t* gate, const uint8_t* up, long long stride, int ffn, long long rowBytes, int cols,           \
        const __half* a, const int* items, const int* itemCount, __half* hg) {                                     \
        moe_gate_up_tc_body<TYPE>(gate, up, stride, ffn, rowBytes, cols, a, items, itemCount, hg);                 \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(SG_THREADS, DOWN) moe_down_tc_##NAME(                             \
        const uint8_t* down, long long stride, int dim, long long rowBytes, int ffn, const __half* hg,             \
        const int* items, const int* itemCount, const int* order, float* y) {                                      \
        moe_down_tc_body<TYPE>(down, stride, dim, rowBytes, ffn, hg, items, itemCount, order, y);                  \
    }

MOE_TC_INST(T_F16, f16, 1, 2)
MOE_TC_INST(T_BF16, bf16, 1, 2)
MOE_TC_INST(T_Q8_0, q8_0, 2, 2)
MOE_TC_INST(T_Q4_0, q4_0, 2, 2)
MOE_TC_INST(T_Q4_1, q4_1, 2, 2)
MOE_TC_INST(T_Q4_K, q4_k, 2, 2)
MOE_TC_INST(T_Q5_K, q5_k, 2, 1)
MOE_TC_INST(T_Q6_K, q6_k, 2, 2)

#undef MOE_TC_INST

// Mixture-of-experts kernels (included at the end of offload4j.cu): the router's top-k on the device, and the
// chosen experts' matrix-vector products read straight from the block's expert matrices, so that a decode step
// needs no host round trip (and stays capturable as a CUDA graph).
//
// A sparse block's experts lie in its unit one after another (gate_e, up_e, down_e, each 256-byte aligned, all
// experts the same size), so expert e's gate is gateBase + e * stride, and likewise up and down.
#pragma once

// One warp per row: softmax over the E router logits (in place), the k largest (ties: the lower index), their
// probabilities renormalised to sum 1 when `normalize`, times `scale`. chosen/weights are [rows][k]. The logits are
// read through L2 (__ldcg): moe_router_topk1's last block reads logits that other blocks of its launch wrote.
__device__ __forceinline__ void topk_row(float* l, int* chosen, float* weights, int experts, int k, int normalize,
                                         float scale) {
    const int lane = threadIdx.x & 31;
    float m = -INFINITY;
    for (int e = lane; e < experts; e += 32) m = fmaxf(m, __ldcg(l + e));
    m = warp_max(m);
    float s = 0.f;
    for (int e = lane; e < experts; e += 32) {
        float p = expf(__ldcg(l + e) - m);
        l[e] = p;
        s += p;
    }
    s = warp_sum(s);
    __syncwarp();
    float picked = 0.f;
    for (int j = 0; j < k; j++) {
        float best = -1.f;
        int bestE = experts;
        for (int e = lane; e < experts; e += 32) {
            float p = l[e];
            if (p > best || (p == best && e < bestE)) {
                best = p;
                bestE = e;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ob = __shfl_xor_sync(0xffffffffu, best, o);
            int oe = __shfl_xor_sync(0xffffffffu, bestE, o);
            if (ob > best || (ob == best && oe < bestE)) {
                best = ob;
                bestE = oe;
            }
        }
        if (lane == 0) {
            chosen[j] = bestE;
            weights[j] = best / s;
            l[bestE] = -1.f;  // taken
        }
        picked += best / s;
        __syncwarp();
    }
    if (lane == 0) {
        float f = (normalize ? 1.f / picked : 1.f) * scale;
        for (int j = 0; j < k; j++) weights[j] *= f;
    }
}

extern "C" __global__ void moe_topk(float* logits, int* chosen, float* weights, int experts, int k, int normalize,
                                    float scale) {
    topk_row(logits + (size_t)blockIdx.x * experts, chosen + blockIdx.x * k, weights + blockIdx.x * k, experts, k,
             normalize, scale);
}

// One token's router logits and its top-k in one launch (instead of a matrix-vector launch and moe_topk): the
// warps compute the logits two experts each (matvec_body's paired store, the same floats as the separate launch);
// the block that finishes last (a ticket counter in device memory, which that block resets for the next launch)
// runs topk_row over them. The launches that share a counter must not overlap: they share one stream.
template <int TYPE>
__device__ __forceinline__ void router_topk1_body(const uint8_t* __restrict__ w, int experts, long long rowBytes,
                                                  int cols, const float* __restrict__ x, float* logits, int* chosen,
                                                  float* weights, int k, int normalize, float scale,
                                                  unsigned int* ticket) {
    const int warp = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int warps = MV_PAIRED(1, MV_STORE) ? (experts + 1) >> 1 : experts;
    if (warp < warps) {  // whole warps skip: every thread reaches the barriers below
        matvec_body<TYPE, 1, MV_STORE, false>(w, nullptr, nullptr, experts, 0, 0, rowBytes, cols, x, logits, nullptr,
                                              nullptr, 1, nullptr, 0.f);
    }
    __shared__ unsigned int order;
    __threadfence();  // this block's logits are visible before its ticket is taken
    __syncthreads();
    if (threadIdx.x == 0) order = atomicAdd(ticket, 1u);
    __syncthreads();
    if (order != gridDim.x - 1 || threadIdx.x >= 32) return;
    __threadfence();
    topk_row(logits, chosen, weights, experts, k, normalize, scale);
    if (threadIdx.x == 0) *ticket = 0u;
}

#define ROUTER_TOPK1(TYPE, NAME)                                                                                      \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_router_topk1_##NAME(                             \
        const uint8_t* __restrict__ w, int experts, long long rowBytes, int cols, const float* __restrict__ x,       \
        float* logits, int* chosen, float* weights, int k, int normalize, float scale, unsigned int* ticket) {        \
        router_topk1_body<TYPE>(w, experts, rowBytes, cols, x, logits, chosen, weights, k, normalize, scale, ticket); \
    }
ROUTER_TOPK1(T_F32, f32)
ROUTER_TOPK1(T_F16, f16)
ROUTER_TOPK1(T_BF16, bf16)

// h[s][r] = silu(gate_e[r] . xb[t]) * (up_e[r] . xb[t]) for slot s = t * k + j, e = chosen[s]: one warp per row r
// of one slot (grid: rows / MV_WARPS × slots). A negative e (an expert offloaded elsewhere) is skipped, here and in
// moe_down.
template <int TYPE>
__device__ __forceinline__ void moe_gate_up_body(const uint8_t* __restrict__ gate, const uint8_t* __restrict__ up,
                                                 long long stride, int ffn, long long rowBytes, int cols,
                                                 const float* __restrict__ xb, const int* __restrict__ chosen, int k,
                                                 float* h) {
    typedef Fmt<TYPE> F;
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int slot = blockIdx.y;
    if (r >= ffn) return;
    const int e = chosen[slot];
    if (e < 0) return;  // a choice computed elsewhere (the host, or another pass over an expert pool): h unused
    const float* x = xb + (size_t)(slot / k) * cols;
    const uint8_t* rowA = gate + (size_t)e * stride + (size_t)r * rowBytes;
    const uint8_t* rowB = up + (size_t)e * stride + (size_t)r * rowBytes;
    const int units = cols / F::UNIT;
    float acc[1] = {0.f}, acc2[1] = {0.f}, ss[1] = {0.f};
    for (int u = lane; u < units; u += 32) {
        float wa[F::UNIT], wb[F::UNIT];
        int off[F::RUNS];
        typename F::Raw ra = F::fetch(rowA, u);
        typename F::Raw rb = F::fetch(rowB, u);
        F::decode(ra, u, wa, off);
        F::decode(rb, u, wb, off);
        dot_runs<1, F::RUNS, F::RUNLEN, true, false>(wa, wb, off, x, cols, nullptr, acc, acc2, ss);
    }
    float g = warp_sum(acc[0]);
    float v = warp_sum(acc2[0]);
    if (lane == 0) h[(size_t)slot * ffn + r] = silu_mul(g, v);
}

// x[t][r] += sum_j weights[t*k+j] * (down_e[r] . h[t*k+j]), e = chosen[t*k+j]: one warp per output row r of one
// token t (grid: dim / MV_WARPS × tokens); the k experts are summed in order, so the result is deterministic.
template <int TYPE>
__device__ __forceinline__ void moe_down_body(const uint8_t* __restrict__ down, long long stride, int dim,
                                              long long rowBytes, int ffn, const float* __restrict__ h,
                                              const int* __restrict__ chosen, const float* __restrict__ weights, int k,
                                              float* x) {
    typedef Fmt<TYPE> F;
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t = blockIdx.y;
    if (r >= dim) return;
    const int units = ffn / F::UNIT;
    float total = 0.f;
    for (int j = 0; j < k; j++) {
        const int slot = t * k + j;
        const int e = chosen[slot];
        if (e < 0) continue;  // computed elsewhere: adds nothing here
        const uint8_t* row = down + (size_t)e * stride + (size_t)r * rowBytes;
        const float* hv = h + (size_t)slot * ffn;
        float acc[1] = {0.f}, acc2[1] = {0.f}, ss[1] = {0.f};
        for (int u = lane; u < units; u += 32) {
            float wa[F::UNIT];
            int off[F::RUNS];
            typename F::Raw ra = F::fetch(row, u);
            F::decode(ra, u, wa, off);
            dot_runs<1, F::RUNS, F::RUNLEN, false, false>(wa, wa, off, hv, ffn, nullptr, acc, acc2, ss);
        }
        total = fmaf(weights[slot], warp_sum(acc[0]), total);
    }
    if (lane == 0) x[(size_t)t * dim + r] += total;
}

#define MOE_INST(TYPE, NAME)                                                                                       \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_gate_up_##NAME(                                \
        const uint8_t* gate, const uint8_t* up, long long stride, int ffn, long long rowBytes, int cols,           \
        const float* xb, const int* chosen, int k, float* h) {                                                     \
        moe_gate_up_body<TYPE>(gate, up, stride, ffn, rowBytes, cols, xb, chosen, k, h);                           \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_down_##NAME(                                   \
        const uint8_t* down, long long stride, int dim, long long rowBytes, int ffn, const float* h,               \
        const int* chosen, const float* weights, int k, float* x) {                                                \
        moe_down_body<TYPE>(down, stride, dim, rowBytes, ffn, h, chosen, weights, k, x);                           \
    }

MOE_INST(T_F32, f32)
MOE_INST(T_F16, f16)
MOE_INST(T_BF16, bf16)
MOE_INST(T_Q8_0, q8_0)
MOE_INST(T_Q4_0, q4_0)
MOE_INST(T_Q4_1, q4_1)
MOE_INST(T_Q4_K, q4_k)
MOE_INST(T_Q5_K, q5_k)
MOE_INST(T_Q6_K, q6_k)

// ---------------------------------------------------------------------------------------------
// Grouped experts, for steps of many tokens (prompt chunks, large batches)
// ---------------------------------------------------------------------------------------------
// The kernels above give each (token, choice) slot its own warps, so a prompt of n tokens reads and decodes every
// chosen expert's matrices once per slot: ~n * k / experts times per block. Here the slots are first grouped by
// expert (moe_group), and each warp owns one row of one expert and walks a tile of up to MOE_TILE of that expert's
// slots, decoding each weight unit once per tile (the multi-token matvec's dot_runs, with the tile's input rows
// gathered). The down projection stores each slot's output row (y[slot]), and moe_combine adds a token's k rows in
// choice order, as moe_down does. Every slot's dot products run over the same units in the same order per lane as in
// the per-slot kernels, and nothing is summed with atomics, so a token's result does not depend on the grouping
// (nor on thread timing): the two paths agree bit for bit.
#define MOE_TILE 8
#define MOE_GROUP_THREADS 1024

// Inclusive sums over the block of two ints per thread (blockDim.x = MOE_GROUP_THREADS); `tot` gets the block's
// totals. Uses `s` (2 * 32 ints) and synchronises.
__device__ __forceinline__ void block_scan2(int& a, int& b, int* s, int& totA, int& totB) {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
        int ua = __shfl_up_sync(0xffffffffu, a, o), ub = __shfl_up_sync(0xffffffffu, b, o);
        if (lane >= o) { a += ua; b += ub; }
    }
    if (lane == 31) { s[warp] = a; s[32 + warp] = b; }
    __syncthreads();
    if (warp == 0) {
        int wa = lane < warps ? s[lane] : 0, wb = lane < warps ? s[32 + lane] : 0;
#pragma unroll
        for (int o = 1; o < 32; o <<= 1) {
            int ua = __shfl_up_sync(0xffffffffu, wa, o), ub = __shfl_up_sync(0xffffffffu, wb, o);
            if (lane >= o) { wa += ua; wb += ub; }
        }
        s[lane] = wa;  // inclusive sums of the warp totals
        s[32 + lane] = wb;
    }
    __syncthreads();
    if (warp > 0) { a += s[warp - 1]; b += s[32 + warp - 1]; }
    totA = s[warps - 1];
    totB = s[32 + warps - 1];
    __syncthreads();  // s is reused by the next call
}

// A stable counting sort of the n = count * k slots by expert id (0 <= id < ids; negative ids, computed elsewhere,
// are dropped), in one block of MOE_GROUP_THREADS threads: order[] lists the slots expert by expert, each expert's
// in slot order; items[] lists (expert, first index into order, length) for each tile of up to `tile` of an
// expert's slots (MOE_TILE for the kernels below, MOE_TC_TILE for the tensor-core ones of moe_gemm.cuh),
// itemCount[0] of them (at most ceil(n / tile) + the number of distinct ids, which the caller bounds by maxItems,
// the room in items[]); itemCount[1] is the number of slots placed in order[]. `counts` (ids ints) is scratch.
// The work list gives a popular expert as many tiles as it has slots to fill and a cold one none, so the grouped
// kernels' grid (rows x items) stays balanced however skewed the routing.
extern "C" __global__ void __launch_bounds__(MOE_GROUP_THREADS) moe_group(const int* __restrict__ chosen, int n,
                                                                          int ids, int* counts, int* order,
                                                                          int* items, int* itemCount,
                                                                          int maxItems, int tile) {
    __shared__ int s[64];
    const int tid = threadIdx.x, nt = blockDim.x, lane = tid & 31, warp = tid >> 5;
    for (int e = tid; e < ids; e += nt) counts[e] = 0;
    __syncthreads();
    for (int i = tid; i < n; i += nt) {
        int e = chosen[i];
        if (e >= 0 && e < ids) atomicAdd(&counts[e], 1);  // integer counts: the same whatever the timing
    }
    __syncthreads();
    // offsets and tiles: an exclusive scan of (count, tiles) over the ids, a block-wide chunk at a time
    int slotBase = 0, tileBase = 0;
    for (int e0 = 0; e0 < ids; e0 += nt) {
        int e = e0 + tid;
        int c = e < ids ? counts[e] : 0;
        int tiles = (c + tile - 1) / tile;
        int a = c, b = tiles, totA, totB;
        block_scan2(a, b, s, totA, totB);
        int first = slotBase + a - c, item = tileBase + b - tiles;
        if (e < ids) {
            counts[e] = first;  // from here on: the next free place of expert e in order[]
            for (int j = 0; j < tiles && item + j < maxItems; j++) {  // (the bound holds: a guard, not a limit)
                items[3 * (item + j)] = e;
                items[3 * (item + j) + 1] = first + j * tile;
                items[3 * (item + j) + 2] = min(tile, c - j * tile);
            }
        }
        slotBase += totA;
        tileBase += totB;
    }
    if (tid == 0) {
        itemCount[0] = min(tileBase, maxItems);
        itemCount[1] = slotBase;  // slots placed in order[] (the dropped ones not counted)
    }
    __syncthreads();
    // placement in slot order: within a warp, lanes of the same expert rank by lane (match_any); the warps of a
    // chunk take turns, so an expert's slots land in increasing slot order
    const unsigned lt = (1u << lane) - 1u;
    for (int i0 = 0; i0 < n; i0 += nt) {
        int i = i0 + tid;
        int e = i < n ? chosen[i] : -1;
        bool valid = e >= 0 && e < ids;
        unsigned same = __match_any_sync(0xffffffffu, valid ? e : -1);
        int leader = __ffs(same) - 1;
        int rank = __popc(same & lt);
        for (int w = 0; w < (nt >> 5); w++) {
            if (w == warp && valid) {
                int pos = 0;
                if (lane == leader) {
                    pos = counts[e];
                    counts[e] = pos + __popc(same);
                }
                pos = __shfl_sync(same, pos, leader);
                order[pos + rank] = i;
            }
            __syncthreads();
        }
    }
}

// acc[t] += wa . x_t (and acc2[t] += wb . x_t) over the unit's runs, x_t = xs[t]: dot_runs with gathered rows.
template <int NT, int RUNS, int RUNLEN, bool TWO>
__device__ __forceinline__ void dot_runs_rows(const float* wa, const float* wb, const int* off,
                                              const float* const* xs, float* acc, float* acc2) {
#pragma unroll
    for (int r = 0; r < RUNS; r++) {
#pragma unroll
        for (int i = 0; i < RUNLEN / 4; i++) {
#pragma unroll
            for (int t = 0; t < NT; t++) {
                float4 v = __ldg(reinterpret_cast<const float4*>(xs[t] + off[r]) + i);
                const float* a = wa + r * RUNLEN + 4 * i;
                acc[t] = fmaf(a[0], v.x, fmaf(a[1], v.y, fmaf(a[2], v.z, fmaf(a[3], v.w, acc[t]))));
                if (TWO) {
                    const float* b = wb + r * RUNLEN + 4 * i;
                    acc2[t] = fmaf(b[0], v.x, fmaf(b[1], v.y, fmaf(b[2], v.z, fmaf(b[3], v.w, acc2[t]))));
                }
            }
        }
    }
}

// One warp: row r of matrix A (and B, TWO) of one expert times the tile's MOE_TILE gathered input rows (a tile of
// fewer slots repeats its last one: the spare results are not stored). Units are fetched UNR ahead, as matvec_body
// does (each lane's units still in increasing order: the same sums as the per-slot kernels').
template <int TYPE, bool TWO>
__device__ __forceinline__ void moe_tile_dot(const uint8_t* rowA, const uint8_t* rowB, int cols,
                                             const float* const* xs, float* acc, float* acc2) {
    typedef Fmt<TYPE> F;
    // half matvec_body's units in flight: a tile of MOE_TILE rows of x already holds many loads in flight, and the
    // K-quants' eight accumulators (sixteen with two matrices) leave no registers for more
    constexpr int UNR = F::UNR > 1 ? F::UNR / 2 : 1;
    const int lane = threadIdx.x & 31;
    const int units = cols / F::UNIT;
    for (int u0 = lane; u0 < units; u0 += 32 * UNR) {
        typename F::Raw ra[UNR], rb[UNR];
#pragma unroll
        for (int q = 0; q < UNR; q++) {
            int u = u0 + 32 * q;
            if (u < units) {
                ra[q] = F::fetch(rowA, u);
                if (TWO) rb[q] = F::fetch(rowB, u);
            }
        }
#pragma unroll
        for (int q = 0; q < UNR; q++) {
            int u = u0 + 32 * q;
            if (u < units) {
                float wa[F::UNIT], wb[TWO ? F::UNIT : 1];
                int off[F::RUNS];
                F::decode(ra[q], u, wa, off);
                if (TWO) F::decode(rb[q], u, wb, off);
                dot_runs_rows<MOE_TILE, F::RUNS, F::RUNLEN, TWO>(wa, wb, off, xs, acc, acc2);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < MOE_TILE; t++) {
        acc[t] = warp_sum(acc[t]);
        if (TWO) acc2[t] = warp_sum(acc2[t]);
    }
}

// h[s][r] = silu(gate_e[r] . xb[s / k]) * (up_e[r] . xb[s / k]) for the slots s of one tile of expert e: grid
// (ffn / MV_WARPS, the bound on items); blocks past *itemCount return at once.
template <int TYPE>
__device__ __forceinline__ void moe_gate_up_grouped_body(const uint8_t* __restrict__ gate,
                                                         const uint8_t* __restrict__ up, long long stride, int ffn,
                                                         long long rowBytes, int cols, const float* __restrict__ xb,
                                                         int k, const int* __restrict__ items,
                                                         const int* __restrict__ itemCount,
                                                         const int* __restrict__ order, float* h) {
    const int item = blockIdx.y;
    if (item >= *itemCount) return;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    if (r >= ffn) return;
    const int e = items[3 * item], start = items[3 * item + 1], len = items[3 * item + 2];
    int slot[MOE_TILE];
    const float* xs[MOE_TILE];
#pragma unroll
    for (int t = 0; t < MOE_TILE; t++) {
        slot[t] = order[start + min(t, len - 1)];
        xs[t] = xb + (size_t)(slot[t] / k) * cols;
    }
    float acc[MOE_TILE], acc2[MOE_TILE];
#pragma unroll
    for (int t = 0; t < MOE_TILE; t++) { acc[t] = 0.f; acc2[t] = 0.f; }
    moe_tile_dot<TYPE, true>(gate + (size_t)e * stride + (size_t)r * rowBytes,
                             up + (size_t)e * stride + (size_t)r * rowBytes, cols, xs, acc, acc2);
    if ((threadIdx.x & 31) == 0) {
#pragma unroll
        for (int t = 0; t < MOE_TILE; t++) {
            if (t < len) h[(size_t)slot[t] * ffn + r] = silu_mul(acc[t], acc2[t]);
        }
    }
}

// y[s][r] = down_e[r] . h[s] for the slots s of one tile of expert e: grid (dim / MV_WARPS, the bound on items).
template <int TYPE>
__device__ __forceinline__ void moe_down_grouped_body(const uint8_t* __restrict__ down, long long stride, int dim,
                                                      long long rowBytes, int ffn, const float* __restrict__ h,
                                                      const int* __restrict__ items,
                                                      const int* __restrict__ itemCount,
                                                      const int* __restrict__ order, float* y) {
    const int item = blockIdx.y;
    if (item >= *itemCount) return;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    if (r >= dim) return;
    const int e = items[3 * item], start = items[3 * item + 1], len = items[3 * item + 2];
    int slot[MOE_TILE];
    const float* xs[MOE_TILE];
#pragma unroll
    for (int t = 0; t < MOE_TILE; t++) {
        slot[t] = order[start + min(t, len - 1)];
        xs[t] = h + (size_t)slot[t] * ffn;
    }
    float acc[MOE_TILE], unused[MOE_TILE];
#pragma unroll
    for (int t = 0; t < MOE_TILE; t++) { acc[t] = 0.f; unused[t] = 0.f; }
    moe_tile_dot<TYPE, false>(down + (size_t)e * stride + (size_t)r * rowBytes, nullptr, ffn, xs, acc, unused);
    if ((threadIdx.x & 31) == 0) {
#pragma unroll
        for (int t = 0; t < MOE_TILE; t++) {
            if (t < len) y[(size_t)slot[t] * dim + r] = acc[t];
        }
    }
}

#define MOE_GROUPED_INST(TYPE, NAME)                                                                               \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_gate_up_grouped_##NAME(                        \
        const uint8_t* gate, const uint8_t* up, long long stride, int ffn, long long rowBytes, int cols,           \
        const float* xb, int k, const int* items, const int* itemCount, const int* order, float* h) {              \
        moe_gate_up_grouped_body<TYPE>(gate, up, stride, ffn, rowBytes, cols, xb, k, items, itemCount, order, h);  \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_down_grouped_##NAME(                           \
        const uint8_t* down, long long stride, int dim, long long rowBytes, int ffn, const float* h,               \
        const int* items, const int* itemCount, const int* order, float* y) {                                      \
        moe_down_grouped_body<TYPE>(down, stride, dim, rowBytes, ffn, h, items, itemCount, order, y);              \
    }

MOE_GROUPED_INST(T_F32, f32)
MOE_GROUPED_INST(T_F16, f16)
MOE_GROUPED_INST(T_BF16, bf16)
MOE_GROUPED_INST(T_Q8_0, q8_0)
MOE_GROUPED_INST(T_Q4_0, q4_0)
MOE_GROUPED_INST(T_Q4_1, q4_1)
MOE_GROUPED_INST(T_Q4_K, q4_k)
MOE_GROUPED_INST(T_Q5_K, q5_k)
MOE_GROUPED_INST(T_Q6_K, q6_k)

// x[t][r] += sum_j weights[t*k+j] * y[t*k+j][r] over the token's choices in order (negative ids: computed elsewhere,
// skipped), summed as moe_down sums them. Grid (dim / 256, tokens), 256 threads.
extern "C" __global__ void moe_combine(const float* __restrict__ y, const int* __restrict__ chosen,
                                       const float* __restrict__ weights, int k, int dim, float* x) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    const int t = blockIdx.y;
    if (r >= dim) return;
    float total = 0.f;
    for (int j = 0; j < k; j++) {
        const int slot = t * k + j;
        if (chosen[slot] < 0) continue;
        total = fmaf(weights[slot], y[(size_t)slot * dim + r], total);
    }
    x[(size_t)t * dim + r] += total;
}

// The shared expert's gate (Qwen2-MoE): h[t] *= sigmoid(gateInput . xb[t]), one block per token.
extern "C" __global__ void moe_shared_scale(const float* __restrict__ xb, const float* __restrict__ gateInput,
                                            float* h, int dim, int ffn) {
    __shared__ float scratch[32];
    const float* x = xb + (size_t)blockIdx.x * dim;
    float s = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s = fmaf(x[i], gateInput[i], s);
    s = block_sum(s, scratch);
    float g = 1.f / (1.f + expf(-s));
    float* hr = h + (size_t)blockIdx.x * ffn;
    for (int i = threadIdx.x; i < ffn; i += blockDim.x) hr[i] *= g;
}

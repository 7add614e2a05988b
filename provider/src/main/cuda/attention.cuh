// Attention kernels: decode (one query token, flash-decoding splits), batched decode, and prompt chunks.
#pragma once
#include "common.cuh"

#define MAX_HD 256
#define ATT_WARPS 4

// Decode (one query token), flash-decoding style: grid (heads, S). Split s of head h covers an equal
// share of the positions 0..pos, so that heads * S blocks keep the GPU busy even for one token; the
// share is computed here from params, so the launch shape never depends on the position (the CUDA
// graph replays it unchanged). Within a split, each warp takes tiles of 32 keys: lane j scores key
// j against q (held in shared memory), the warp keeps a running max / sum / output (online softmax),
// then the warps merge. With S == 1 the result goes straight to `out`. With S > 1 each block writes
// its partial (max, sum, output) to `part`, and the last block of the head to finish (counted with an
// atomic in `counters`, which it resets to 0 for the next call) merges the S partials: the second pass
// of flash-decoding without a second kernel launch.
//
// attn_decode_batch: grid (heads, S, B), one token of each of B sequences (blockIdx.z), with the position,
// cache addresses and ring of each from the step's tables (as qkv_post_batch); partials and counters per sequence.
//
// HD (64, 128 or 256; 0 for any other head size, hd then read at run time): with the head size known, a lane's loads
// of its key row are unrolled, so they are all in flight at once (not one round trip each), and the values of a tile
// are accumulated HD / 8 lanes per key, 16 bytes a lane: 32 / (HD / 8) keys per round, each lane eight consecutive
// dimensions (instead of a key at a time, two bytes a lane); the key groups' sums are added at the end of the split.
template <int HD>
__device__ __forceinline__ void attn_decode_body(const float* __restrict__ q, const __half* __restrict__ kCache,
                                                 const __half* __restrict__ vCache, int pos, float* part, float* out,
                                                 int* counters, int heads, int kvHeads, int hdRuntime, float scale,
                                                 float cap, int window, int ring) {
    const int hd = HD > 0 ? HD : hdRuntime;
    constexpr int LPK = HD > 0 ? HD / 8 : 32;  // with HD: lanes per key in the value accumulation (8, 16 or 32)
    constexpr int KPR = 32 / LPK;              // keys per round
    static_assert(HD == 0 || HD == 64 || HD == 128 || HD == 256, "specialised head sizes: 64, 128, 256");
    extern __shared__ float decode_sm[];
    float* qs = decode_sm;                      // hd
    float* wm = qs + hd;                  // ATT_WARPS maxima
    float* wl = wm + ATT_WARPS;           // ATT_WARPS sums
    float* wo = wl + ATT_WARPS;           // ATT_WARPS * hd outputs
    int h = blockIdx.x, s = blockIdx.y, S = gridDim.y;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int kvh = h / (heads / kvHeads);
    int kvDim = kvHeads * hd;
    // positions first..pos: the last `window` of them in a sliding block, in consecutive rows from the row of
    // `first` (kRows, vRows; a ring stores each position twice, so a window never wraps)
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    int n = pos - first + 1;
    const __half* kRows = kCache + (size_t)(ring ? first % ring : first) * kvDim;
    const __half* vRows = vCache + (size_t)(ring ? first % ring : first) * kvDim;
    int chunk = (n + S - 1) / S;
    int k0 = s * chunk, k1 = min(n, k0 + chunk);
    for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[(size_t)h * hd + i] * scale;
    __syncthreads();
    const int ndl = (hd + 31) / 32;
    // HD > 0: o[0..8) are dimensions col..col+8 of key group `sub` (lanes sub·LPK .. sub·LPK + LPK - 1)
    const int sub = HD > 0 ? (threadIdx.x & 31) / LPK : 0;
    const int col = HD > 0 ? ((threadIdx.x & 31) % LPK) * 8 : 0;
    float o[MAX_HD / 32];
#pragma unroll
    for (int i = 0; i < MAX_HD / 32; i++) o[i] = 0.f;
    float m = -INFINITY, l = 0.f;
    for (int base = k0 + warp * 32; base < k1; base += 32 * ATT_WARPS) {
        int key = base + lane;
        float sc = -INFINITY;
        if (key < k1) {
            const uint4* kp = reinterpret_cast<const uint4*>(kRows + (size_t)key * kvDim + kvh * hd);
            float acc = 0.f;
            if (HD > 0) {
                constexpr int CH = HD / 8 > 16 ? 16 : HD > 0 ? HD / 8 : 1;  // loads in flight (registers: 4 · CH)
#pragma unroll
                for (int c0 = 0; c0 < HD / 8; c0 += CH) {
                    uint4 kv[CH];
#pragma unroll
                    for (int c = 0; c < CH; c++) kv[c] = kp[c0 + c];
#pragma unroll
                    for (int c = 0; c < CH; c++) {
                        uint32_t words[4] = {kv[c].x, kv[c].y, kv[c].z, kv[c].w};
#pragma unroll
                        for (int j = 0; j < 4; j++) {
                            float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[j]));
                            acc = fmaf(qs[8 * (c0 + c) + 2 * j], f.x, acc);
                            acc = fmaf(qs[8 * (c0 + c) + 2 * j + 1], f.y, acc);
                        }
                    }
                }
            } else {
                for (int c = 0; c < hd / 8; c++) {
                    uint4 kv = kp[c];
                    uint32_t words[4] = {kv.x, kv.y, kv.z, kv.w};
#pragma unroll
                    for (int j = 0; j < 4; j++) {
                        float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[j]));
                        acc = fmaf(qs[8 * c + 2 * j], f.x, acc);
                        acc = fmaf(qs[8 * c + 2 * j + 1], f.y, acc);
                    }
                }
            }
            sc = cap > 0.f ? cap * tanhf(acc / cap) : acc;  // Gemma 2's attention soft-cap
        }
        float mt = warp_max(sc);
        float mn = fmaxf(m, mt);
        float corr = m == -INFINITY ? 0.f : expf(m - mn);
        float p = key < k1 ? expf(sc - mn) : 0.f;
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int i = 0; i < MAX_HD / 32; i++) o[i] *= corr;
        if (HD > 0) {
#pragma unroll
            for (int j0 = 0; j0 < 32; j0 += KPR) {
                const int j = j0 + sub;
                float pj = __shfl_sync(0xffffffffu, p, j);
                if (base + j < k1) {
                    uint4 v = *reinterpret_cast<const uint4*>(vRows + (size_t)(base + j) * kvDim + kvh * HD + col);
                    uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                    for (int w = 0; w < 4; w++) {
                        float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[w]));
                        o[2 * w] = fmaf(pj, f.x, o[2 * w]);
                        o[2 * w + 1] = fmaf(pj, f.y, o[2 * w + 1]);
                    }
                }
            }
        } else {
            int cnt = min(32, k1 - base);
            for (int j = 0; j < cnt; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
                const __half* vr = vRows + (size_t)(base + j) * kvDim + kvh * hd;
#pragma unroll
                for (int i = 0; i < MAX_HD / 32; i++) {
                    int d = lane + 32 * i;
                    if (i < ndl && d < hd) o[i] = fmaf(pj, __half2float(vr[d]), o[i]);
                }
            }
        }
        m = mn;
    }
    if (HD > 0) {
        // add the key groups' sums: every lane of a column ends with the column's total
#pragma unroll
        for (int off = LPK; off < 32; off <<= 1) {
#pragma unroll
            for (int i = 0; i < 8; i++) o[i] += __shfl_xor_sync(0xffffffffu, o[i], off);
        }
    }
    // merge the warps
    if (lane == 0) { wm[warp] = m; wl[warp] = l; }
    if (HD > 0) {
        if (sub == 0) {
#pragma unroll
            for (int i = 0; i < 8; i++) wo[warp * HD + col + i] = o[i];
        }
    } else {
#pragma unroll
        for (int i = 0; i < MAX_HD / 32; i++) {
            int d = lane + 32 * i;
            if (i < ndl && d < hd) wo[warp * hd + d] = o[i];
        }
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, wm[w]);
    float L = 0.f;
    for (int w = 0; w < ATT_WARPS; w++) L += wm[w] == -INFINITY ? 0.f : wl[w] * expf(wm[w] - M);
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0.f;
        for (int w = 0; w < ATT_WARPS; w++) acc += wm[w] == -INFINITY ? 0.f : wo[w * hd + d] * expf(wm[w] - M);
        if (S == 1) {
            out[(size_t)h * hd + d] = acc / L;
        } else {
            float* pp = part + ((size_t)h * S + s) * (hd + 2);
            pp[2 + d] = acc;
            if (d == 0) { pp[0] = M; pp[1] = L; }
        }
    }
    if (S == 1) return;
    __shared__ int amLast;
    __threadfence();  // this block's partial is visible device-wide before it is counted
    __syncthreads();
    if (threadIdx.x == 0) amLast = atomicAdd(&counters[h], 1) == S - 1;
    __syncthreads();
    if (!amLast) return;
    __threadfence();
    const float* p = part + (size_t)h * S * (hd + 2);
    float MM = -INFINITY;
    for (int i = 0; i < S; i++) MM = fmaxf(MM, __ldcg(p + i * (hd + 2)));
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float LL = 0.f, acc = 0.f;
        for (int i = 0; i < S; i++) {
            float ms = __ldcg(p + i * (hd + 2));  // L2 reads: other blocks wrote these
            if (ms == -INFINITY) continue;
            float f = expf(ms - MM);
            LL += __ldcg(p + i * (hd + 2) + 1) * f;
            acc += __ldcg(p + i * (hd + 2) + 2 + d) * f;
        }
        out[(size_t)h * hd + d] = acc / LL;
    }
    if (threadIdx.x == 0) counters[h] = 0;
}

// The body for the launch's head size: the common ones specialised (attn_decode_body's HD), any other read at run time.
__device__ __forceinline__ void attn_decode_dispatch(const float* __restrict__ q, const __half* __restrict__ kCache,
                                                     const __half* __restrict__ vCache, int pos, float* part,
                                                     float* out, int* counters, int heads, int kvHeads, int hd,
                                                     float scale, float cap, int window, int ring) {
    if (hd == 128) {
        attn_decode_body<128>(q, kCache, vCache, pos, part, out, counters, heads, kvHeads, hd, scale, cap, window, ring);
    } else if (hd == 64) {
        attn_decode_body<64>(q, kCache, vCache, pos, part, out, counters, heads, kvHeads, hd, scale, cap, window, ring);
    } else if (hd == 256) {
        attn_decode_body<256>(q, kCache, vCache, pos, part, out, counters, heads, kvHeads, hd, scale, cap, window, ring);
    } else {
        attn_decode_body<0>(q, kCache, vCache, pos, part, out, counters, heads, kvHeads, hd, scale, cap, window, ring);
    }
}

extern "C" __global__ void __launch_bounds__(128) attn_decode(const float* __restrict__ q,
                                                              const __half* __restrict__ kCache,
                                                              const __half* __restrict__ vCache,
                                                              const int* __restrict__ params, float* part, float* out,
                                                              int* counters, int heads, int kvHeads, int hd,
                                                              float scale, float cap, int window, int ring) {
    attn_decode_dispatch(q, kCache, vCache, params[P_POS], part, out, counters, heads, kvHeads, hd, scale, cap,
                         window, ring);
}

extern "C" __global__ void __launch_bounds__(128) attn_decode_batch(const float* __restrict__ q,
                                                                    const unsigned long long* __restrict__ kv,
                                                                    const int* __restrict__ rings,
                                                                    const int* __restrict__ seqParams, float* part,
                                                                    float* out, int* counters, int heads, int kvHeads,
                                                                    int hd, float scale, float cap, int window) {
    int t = blockIdx.z;
    size_t qd = (size_t)heads * hd;
    attn_decode_dispatch(q + t * qd, reinterpret_cast<const __half*>(kv[2 * t]),
                     reinterpret_cast<const __half*>(kv[2 * t + 1]), seqParams[4 * t],
                     part + (size_t)t * heads * gridDim.y * (hd + 2), out + t * qd, counters + t * heads, heads,
                     kvHeads, hd, scale, cap, window, rings[t]);
}

// attn_decode_gqa_d<HD>_g<GMAX>: the batched decode step's attention with the G = heads / kvHeads query heads that
// share a key/value head taken together (grouped-query attention): grid (kvHeads, S, B), 4 warps; G <= GMAX and
// hd = 32 · DPL (64, 128 or 256). Per tile of 32 keys a warp's lane j scores key j against all G queries, reading the
// key row once (16-byte loads straight from the cache; the queries from shared memory), then each lane accumulates
// DPL consecutive dimensions of the head for all G heads, one 2·DPL-byte load per value row. attn_decode_batch reads
// every key and value row once per query head, and values two bytes a lane. Positions, windows, rings, splits,
// partials and counters as attn_decode_batch (one counter per kv head, the first kvHeads of the sequence's).
template <int DPL, int GMAX>
__device__ __forceinline__ void attn_decode_gqa_body(const float* __restrict__ q, const __half* __restrict__ kCache,
                                                     const __half* __restrict__ vCache, int pos, float* part,
                                                     float* out, int* counters, int heads, int kvHeads, float scale,
                                                     float cap, int window, int ring) {
    constexpr int HD = 32 * DPL;
    extern __shared__ float gqa_sm[];
    const int G = heads / kvHeads;
    float* qs = gqa_sm;                 // [G][HD] the scaled queries
    float* wm = qs + GMAX * HD;         // [ATT_WARPS][GMAX] each warp's maxima
    float* wl = wm + ATT_WARPS * GMAX;  // [ATT_WARPS][GMAX] and sums
    float* wo = wl + ATT_WARPS * GMAX;  // [ATT_WARPS][GMAX][HD] and outputs
    const int kvh = blockIdx.x, s = blockIdx.y, S = gridDim.y;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int h0 = kvh * G;
    const int kvDim = kvHeads * HD;
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    int n = pos - first + 1;
    const __half* kRows = kCache + (size_t)(ring ? first % ring : first) * kvDim + kvh * HD;
    const __half* vRows = vCache + (size_t)(ring ? first % ring : first) * kvDim + kvh * HD;
    int chunk = (n + S - 1) / S;
    int k0 = s * chunk, k1 = min(n, k0 + chunk);
    for (int i = threadIdx.x; i < G * HD; i += blockDim.x) qs[i] = q[(size_t)h0 * HD + i] * scale;
    __syncthreads();
    float o[GMAX][DPL], m[GMAX], l[GMAX];
#pragma unroll
    for (int g = 0; g < GMAX; g++) {
        m[g] = -INFINITY;
        l[g] = 0.f;
#pragma unroll
        for (int d = 0; d < DPL; d++) o[g][d] = 0.f;
    }
    for (int base = k0 + warp * 32; base < k1; base += 32 * ATT_WARPS) {
        const int key = base + lane;
        const bool live = key < k1;
        float sc[GMAX];
#pragma unroll
        for (int g = 0; g < GMAX; g++) sc[g] = 0.f;
        if (live) {
            const uint4* kp = reinterpret_cast<const uint4*>(kRows + (size_t)key * kvDim);
#pragma unroll 4
            for (int c = 0; c < HD / 8; c++) {
                uint4 kv = kp[c];
                float2 f0 = __half22float2(*reinterpret_cast<const __half2*>(&kv.x));
                float2 f1 = __half22float2(*reinterpret_cast<const __half2*>(&kv.y));
                float2 f2 = __half22float2(*reinterpret_cast<const __half2*>(&kv.z));
                float2 f3 = __half22float2(*reinterpret_cast<const __half2*>(&kv.w));
#pragma unroll
                for (int g = 0; g < GMAX; g++) {
                    if (g < G) {
                        const float4* qq = reinterpret_cast<const float4*>(qs + g * HD + 8 * c);
                        float4 a = qq[0], b = qq[1];
                        float acc = sc[g];
                        acc = fmaf(a.x, f0.x, acc);
                        acc = fmaf(a.y, f0.y, acc);
                        acc = fmaf(a.z, f1.x, acc);
                        acc = fmaf(a.w, f1.y, acc);
                        acc = fmaf(b.x, f2.x, acc);
                        acc = fmaf(b.y, f2.y, acc);
                        acc = fmaf(b.z, f3.x, acc);
                        acc = fmaf(b.w, f3.y, acc);
                        sc[g] = acc;
                    }
                }
            }
        }
        // online softmax per head; sc[g] becomes the key's weight p
#pragma unroll
        for (int g = 0; g < GMAX; g++) {
            if (g < G) {  // uniform across the block: the shuffles below see every lane
                float v = live ? (cap > 0.f ? cap * tanhf(sc[g] / cap) : sc[g]) : -INFINITY;
                float mn = fmaxf(m[g], warp_max(v));
                float corr = m[g] == -INFINITY ? 0.f : expf(m[g] - mn);
                float p = live ? expf(v - mn) : 0.f;
                l[g] = l[g] * corr + warp_sum(p);
#pragma unroll
                for (int d = 0; d < DPL; d++) o[g][d] *= corr;
                m[g] = mn;
                sc[g] = p;
            }
        }
        const int cnt = min(32, k1 - base);
        for (int j = 0; j < cnt; j++) {
            const __half* vr = vRows + (size_t)(base + j) * kvDim + lane * DPL;
            float vv[DPL];
            if constexpr (DPL == 2) {
                float2 f = __half22float2(*reinterpret_cast<const __half2*>(vr));
                vv[0] = f.x; vv[1] = f.y;
            } else if constexpr (DPL == 4) {
                uint2 u = *reinterpret_cast<const uint2*>(vr);
                float2 f0 = __half22float2(*reinterpret_cast<const __half2*>(&u.x));
                float2 f1 = __half22float2(*reinterpret_cast<const __half2*>(&u.y));
                vv[0] = f0.x; vv[1] = f0.y; vv[2] = f1.x; vv[3] = f1.y;
            } else {
                uint4 u = *reinterpret_cast<const uint4*>(vr);
                uint32_t w[4] = {u.x, u.y, u.z, u.w};
#pragma unroll
                for (int i = 0; i < 4; i++) {
                    float2 f = __half22float2(*reinterpret_cast<const __half2*>(&w[i]));
                    vv[2 * i] = f.x;
                    vv[2 * i + 1] = f.y;
                }
            }
#pragma unroll
            for (int g = 0; g < GMAX; g++) {
                if (g < G) {
                    float pj = __shfl_sync(0xffffffffu, sc[g], j);
#pragma unroll
                    for (int d = 0; d < DPL; d++) o[g][d] = fmaf(pj, vv[d], o[g][d]);
                }
            }
        }
    }
    // merge the warps, then (S > 1) the splits, per head
#pragma unroll
    for (int g = 0; g < GMAX; g++) {
        if (g < G) {
            if (lane == 0) {
                wm[warp * GMAX + g] = m[g];
                wl[warp * GMAX + g] = l[g];
            }
#pragma unroll
            for (int d = 0; d < DPL; d++) wo[(warp * GMAX + g) * HD + lane * DPL + d] = o[g][d];
        }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < G * HD; i += blockDim.x) {
        int g = i / HD, d = i % HD, h = h0 + g;
        float M = -INFINITY;
        for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, wm[w * GMAX + g]);
        float L = 0.f, acc = 0.f;
        for (int w = 0; w < ATT_WARPS; w++) {
            float mw = wm[w * GMAX + g];
            if (mw == -INFINITY) continue;
            float f = expf(mw - M);
            L += wl[w * GMAX + g] * f;
            acc += wo[(w * GMAX + g) * HD + d] * f;
        }
        if (S == 1) {
            out[(size_t)h * HD + d] = acc / L;
        } else {
            float* pp = part + ((size_t)h * S + s) * (HD + 2);
            pp[2 + d] = acc;
            if (d == 0) { pp[0] = M; pp[1] = L; }
        }
    }
    if (S == 1) return;
    __shared__ int amLast;
    __threadfence();  // this block's partials are visible device-wide before they are counted
    __syncthreads();
    if (threadIdx.x == 0) amLast = atomicAdd(&counters[kvh], 1) == S - 1;
    __syncthreads();
    if (!amLast) return;
    __threadfence();
    for (int i = threadIdx.x; i < G * HD; i += blockDim.x) {
        int g = i / HD, d = i % HD, h = h0 + g;
        const float* p = part + (size_t)h * S * (HD + 2);
        float MM = -INFINITY;
        for (int j = 0; j < S; j++) MM = fmaxf(MM, __ldcg(p + j * (HD + 2)));
        float LL = 0.f, acc = 0.f;
        for (int j = 0; j < S; j++) {
            float ms = __ldcg(p + j * (HD + 2));  // L2 reads: other blocks wrote these
            if (ms == -INFINITY) continue;
            float f = expf(ms - MM);
            LL += __ldcg(p + j * (HD + 2) + 1) * f;
            acc += __ldcg(p + j * (HD + 2) + 2 + d) * f;
        }
        out[(size_t)h * HD + d] = acc / LL;
    }
    if (threadIdx.x == 0) counters[kvh] = 0;
}

#define GQA_INST(DPL, GMAX)                                                                                          \
    extern "C" __global__ void __launch_bounds__(128) attn_decode_gqa_d##DPL##_g##GMAX(                              \
        const float* __restrict__ q, const unsigned long long* __restrict__ kv, const int* __restrict__ rings,       \
        const int* __restrict__ seqParams, float* part, float* out, int* counters, int heads, int kvHeads,           \
        float scale, float cap, int window) {                                                                        \
        int t = blockIdx.z;                                                                                          \
        size_t qd = (size_t)heads * 32 * DPL;                                                                        \
        attn_decode_gqa_body<DPL, GMAX>(q + t * qd, reinterpret_cast<const __half*>(kv[2 * t]),                      \
                                        reinterpret_cast<const __half*>(kv[2 * t + 1]), seqParams[4 * t],            \
                                        part + (size_t)t * heads * gridDim.y * (32 * DPL + 2), out + t * qd,         \
                                        counters + t * heads, heads, kvHeads, scale, cap, window, rings[t]);         \
    }
GQA_INST(2, 4) GQA_INST(2, 8) GQA_INST(4, 4) GQA_INST(4, 8) GQA_INST(8, 4) GQA_INST(8, 8)
#undef GQA_INST

// Causal attention for a prompt chunk of T tokens at positions pos0..pos0+T-1 (their keys and values
// are already in the cache). grid (heads, ceil(T / 8)), 4 warps, 2 queries per warp. Keys and values
// are staged through shared memory 32 positions at a time and shared by the block's 8 queries; each
// warp runs the same online softmax as attn_decode for each of its queries.
// attn_prefill_bidir (a whole sequence of a bidirectional embedding model, pos0 = 0, no window): every query
// sees the keys of all T positions instead of those up to its own. Both kernels are instances of one template,
// so the causal one compiles exactly as before (a runtime flag cost it a register spill).
// cap * tanh(s / cap), out of line: only Gemma 2 takes it, and inlined its registers would cost attn_prefill a spill.
__device__ __noinline__ float softcap_score(float s, float cap) { return cap * tanhf(s / cap); }

#define PF_Q 8
#define PF_KT 32
template <bool BIDIR>
__device__ __forceinline__ void attn_prefill_body(const float* __restrict__ q, const __half* __restrict__ kCache,
                                                  const __half* __restrict__ vCache, const int* __restrict__ params,
                                                  float* out, int T, int heads, int kvHeads, int hd, float scale,
                                                  float cap, int window, int ring) {
    // its own name: the extern "C" kernels' `sm` has C linkage, this template function's would not
    extern __shared__ float prefill_sm[];
    const int kld = hd + 2;  // K rows padded to an odd number of words: lane j reads row j, all in different banks
    float* qs = prefill_sm;                                                   // PF_Q * hd
    __half* ks = reinterpret_cast<__half*>(qs + PF_Q * hd);          // PF_KT * kld
    __half* vs = ks + PF_KT * kld;                                    // PF_KT * hd
    int h = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int kvh = h / (heads / kvHeads);
    int kvDim = kvHeads * hd;
    int pos0 = params[P_POS];
    int t0 = blockIdx.y * PF_Q;
    int nq = min(PF_Q, T - t0);
    for (int i = threadIdx.x; i < PF_Q * hd; i += blockDim.x) {
        int qi = i / hd, d = i % hd;
        qs[i] = qi < nq ? q[((size_t)(t0 + qi) * heads + h) * hd + d] * scale : 0.f;
    }
    const int ndl = (hd + 31) / 32;
    float o[2][MAX_HD / 32];
    float m[2], l[2];
#pragma unroll
    for (int a = 0; a < 2; a++) {
        m[a] = -INFINITY;
        l[a] = 0.f;
#pragma unroll
        for (int i = 0; i < MAX_HD / 32; i++) o[a][i] = 0.f;
    }
    // the block's last query sees keys 0..lastPos; bidirectional: every query sees the whole chunk
    int lastPos = BIDIR ? pos0 + T - 1 : pos0 + t0 + nq - 1;
    // In a sliding block the first query sees keys from kStart on; key position p is in row rowBase + p - kStart
    // (a ring stores each position twice, so the block's keys never wrap).
    int kStart = window > 0 ? max(0, pos0 + t0 - window + 1) : 0;
    int rowOff = (ring ? kStart % ring : kStart) - kStart;  // row of key position p: p + rowOff
    int chunks = hd / 8;
    for (int kt = kStart; kt <= lastPos; kt += PF_KT) {
        __syncthreads();
        for (int c = threadIdx.x; c < PF_KT * chunks; c += blockDim.x) {
            int r = c / chunks, cc = c % chunks;
            int key = kt + r;
            uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
            if (key <= lastPos) {
                size_t krow = (size_t)(key + rowOff) * kvDim + kvh * hd;
                kv = reinterpret_cast<const uint4*>(kCache + krow)[cc];
                vv = reinterpret_cast<const uint4*>(vCache + krow)[cc];
            }
            uint32_t* kd = reinterpret_cast<uint32_t*>(ks + r * kld + 8 * cc);  // 4-byte aligned only
            kd[0] = kv.x; kd[1] = kv.y; kd[2] = kv.z; kd[3] = kv.w;
            *reinterpret_cast<uint4*>(vs + r * hd + 8 * cc) = vv;
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < 2; a++) {
            int qi = warp * 2 + a;
            if (qi >= nq) continue;  // warp-uniform
            int qpos = BIDIR ? pos0 + T - 1 : pos0 + t0 + qi;  // the last key this query sees
            if (kt > qpos) continue;
            int key = kt + lane;
            bool seen = key <= qpos && (window == 0 || key > qpos - window);
            float sc = -INFINITY;
            if (seen) {
                const float* qq = qs + qi * hd;
                const __half2* kr = reinterpret_cast<const __half2*>(ks + lane * kld);
                float acc = 0.f;
                for (int d2 = 0; d2 < hd / 2; d2++) {
                    float2 f = __half22float2(kr[d2]);
                    acc = fmaf(qq[2 * d2], f.x, acc);
                    acc = fmaf(qq[2 * d2 + 1], f.y, acc);
                }
                sc = cap > 0.f ? softcap_score(acc, cap) : acc;  // Gemma 2's attention soft-cap
            }
            float mt = warp_max(sc);
            float mn = fmaxf(m[a], mt);
            float corr = m[a] == -INFINITY ? 0.f : expf(m[a] - mn);
            float p = seen ? expf(sc - mn) : 0.f;
            l[a] = l[a] * corr + warp_sum(p);
            int cnt = min(PF_KT, qpos - kt + 1);
#pragma unroll
            for (int i = 0; i < MAX_HD / 32; i++) o[a][i] *= corr;
            for (int j = 0; j < cnt; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                for (int i = 0; i < MAX_HD / 32; i++) {
                    int d = lane + 32 * i;
                    if (i < ndl && d < hd) o[a][i] = fmaf(pj, __half2float(vs[j * hd + d]), o[a][i]);
                }
            }
            m[a] = mn;
        }
    }
#pragma unroll
    for (int a = 0; a < 2; a++) {
        int qi = warp * 2 + a;
        if (qi >= nq) continue;
        float inv = 1.f / l[a];
#pragma unroll
        for (int i = 0; i < MAX_HD / 32; i++) {
            int d = lane + 32 * i;
            if (i < ndl && d < hd) out[((size_t)(t0 + qi) * heads + h) * hd + d] = o[a][i] * inv;
        }
    }
}

#define ATTN_PREFILL_ARGS                                                                                    \
    const float* __restrict__ q, const __half* __restrict__ kCache, const __half* __restrict__ vCache,          \
        const int* __restrict__ params, float* out, int T, int heads, int kvHeads, int hd, float scale, float cap, \
        int window, int ring
extern "C" __global__ void __launch_bounds__(128) attn_prefill(ATTN_PREFILL_ARGS) {
    attn_prefill_body<false>(q, kCache, vCache, params, out, T, heads, kvHeads, hd, scale, cap, window, ring);
}
extern "C" __global__ void __launch_bounds__(128) attn_prefill_bidir(ATTN_PREFILL_ARGS) {
    attn_prefill_body<true>(q, kCache, vCache, params, out, T, heads, kvHeads, hd, scale, cap, window, ring);
}
#undef ATTN_PREFILL_ARGS

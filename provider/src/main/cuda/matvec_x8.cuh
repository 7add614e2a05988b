// Projections of short steps with 8-bit activations: batch-1 decode of the quantized formats, and steps of up to
// MVX8_MAX_TOKENS tokens (a few sequences decoding together, a draft's verification) that read each weight once for all
// of their tokens.
//
// The float matrix-vector kernels (offload4j.cu) decode every weight to a float and multiply it with a float
// activation: several instructions per weight, and each warp reads 4 bytes of x (and, with the fused norm, 4 bytes
// of norm weights) per weight it multiplies, several times the weight bytes themselves. A Q4_K decode step read its
// weights at a third of HBM bandwidth that way, bound by instructions, not by memory.
//
// Here the step's input row is first normalised (when a norm precedes the projection) and quantized once:
// quantize_x8 writes int8 values in blocks of 32 with one float scale each (x ~ d * q, d = max|x| / 127,
// q = round(x * 127 / max|x|), the rounding of ggml's q8_1) and the float sum of every 16 values. The projection
// then multiplies the weights' integer quants with those bytes four at a time (dp4a: one instruction for four
// products and their sum) and applies the weights' and the activations' scales once per run of 8 to 16 values. A
// format's additive part (Q4_K/Q5_K's mins, Q4_0's -8, Q4_1's m) is taken against the exact float sums rather than
// the quantized values.
// The error is that of 8-bit activations (about 0.4 % of a block's largest value per element, unbiased), what
// llama.cpp's integer dot products accept; -Doffload4j.cuda.int8Activations=false (CudaInt8Kernels.PROPERTY) turns
// the path off.
//
// Layout of a quantized row of n values: xq int8[n] (16-byte aligned), xd float[n / 32], xs float[n / 16]; a step's
// rows one after another.
// The kernels keep the float kernels' single-token mapping (one warp per pair of rows of one matrix, or per gate/up row
// with SwiGLU; CudaKernels.matvecWarps with nt = 1) whatever the step's token count, and their modes, for Q8_0, Q4_0,
// Q4_1, Q4_K, Q5_K and Q6_K rows; and a mixture of experts' per-slot decode kernels (moe.cuh) likewise, at the end.
#pragma once

// Grid (n / 256 rounded up, rows), blockDim 256: each warp quantizes one block of 32 values of row blockIdx.y, so that
// every load of the row is in flight at once (a one-token step waits for this kernel; one block per row measured 2-4
// us a launch on the H100). y = x (times rsqrt(mean(x^2) + eps) * normW with normW: each block sums the whole row's
// squares itself, in the same order, so all of them scale by the same float, the one the float kernels' fused norm
// computes), then xq, xd and xs as above.
// KEEP (quantize_x8_keep): the normalised floats y are also written to `keep` (row r at keep + r * n): a mixture of
// experts' FFN input, which its float router reads, comes out of the same launch as the quantized row its experts read.
#define QX8_THREADS 256
template <bool KEEP>
__device__ __forceinline__ void quantize_x8_body(const float* __restrict__ x, const float* __restrict__ normW, float eps,
                                                 int n, int8_t* __restrict__ xq, float* __restrict__ xd,
                                                 float* __restrict__ xs, float* __restrict__ keep) {
    __shared__ float scratch[32];
    const float* xr = x + (size_t)blockIdx.y * n;
    float scale = 1.f;
    if (normW) {
        float ss = 0.f;
#pragma unroll 8
        for (int i = threadIdx.x; i < n; i += QX8_THREADS) ss = fmaf(xr[i], xr[i], ss);
        ss = block_sum(ss, scratch);
        scale = (float)(1.0 / sqrt((double)(ss / (float)n + eps)));
    }
    const int lane = threadIdx.x & 31;
    const int b = blockIdx.x * (QX8_THREADS / 32) + (threadIdx.x >> 5);  // the warp's block of 32 in the row
    if (b >= n / 32) return;
    const int i = 32 * b + lane;
    float v = normW ? xr[i] * scale * normW[i] : xr[i];
    float amax = warp_max(fabsf(v));
    int q = amax == 0.f ? 0 : __float2int_rn(v * (127.f / amax));
    const size_t row = blockIdx.y;
    xq[row * n + i] = (int8_t)q;
    if (KEEP) keep[row * n + i] = v;
    float s = v;  // the sum of this lane's half (16 values)
#pragma unroll
    for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) {
        xd[row * (n / 32) + b] = amax / 127.f;
        xs[row * (n / 16) + 2 * b] = s;
    } else if (lane == 16) {
        xs[row * (n / 16) + 2 * b + 1] = s;
    }
}

extern "C" __global__ void __launch_bounds__(QX8_THREADS) quantize_x8(const float* __restrict__ x,
                                                                     const float* __restrict__ normW, float eps, int n,
                                                                     int8_t* __restrict__ xq, float* __restrict__ xd,
                                                                     float* __restrict__ xs) {
    quantize_x8_body<false>(x, normW, eps, n, xq, xd, xs, nullptr);
}

extern "C" __global__ void __launch_bounds__(QX8_THREADS) quantize_x8_keep(const float* __restrict__ x,
                                                                          const float* __restrict__ normW, float eps,
                                                                          int n, int8_t* __restrict__ xq,
                                                                          float* __restrict__ xd,
                                                                          float* __restrict__ xs, float* keep) {
    quantize_x8_body<true>(x, normW, eps, n, xq, xd, xs, keep);
}

// The quantized activations of one row.
struct X8 {
    const int8_t* __restrict__ q;
    const float* __restrict__ d;
    const float* __restrict__ s;
    __device__ __forceinline__ int4 q16(int e) const { return __ldg(reinterpret_cast<const int4*>(q + e)); }
    __device__ __forceinline__ int2 q8(int e) const { return __ldg(reinterpret_cast<const int2*>(q + e)); }
    __device__ __forceinline__ float scale(int e) const { return __ldg(d + (e >> 5)); }
    __device__ __forceinline__ float sum16(int e) const { return __ldg(s + (e >> 4)); }
};

#define LO4 0x0F0F0F0Fu

__device__ __forceinline__ int dot16(uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3, int4 x) {
    return __dp4a((int)a0, x.x, __dp4a((int)a1, x.y, __dp4a((int)a2, x.z, __dp4a((int)a3, x.w, 0))));
}

template <int TYPE> struct Dot8;

// Q8_0: a unit is half a block (16 values), fetched as the float kernel fetches it.
template <> struct Dot8<T_Q8_0> {
    static constexpr int UNIT = 16, UNR = 4;
    typedef Fmt<T_Q8_0>::Raw Raw;
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) { return Fmt<T_Q8_0>::fetch(row, u); }
    __device__ __forceinline__ static float dot(const Raw& r, int u, const X8& x) {
        int e = 16 * u;
        return h2f(r.d) * x.scale(e) * (float)dot16(r.q[0], r.q[1], r.q[2], r.q[3], x.q16(e));
    }
};

// Q4_0: a unit is a block; sum d * (q - 8) * x = d * (sum q * x - 8 * sum x).
template <> struct Dot8<T_Q4_0> {
    static constexpr int UNIT = 32, UNR = 2;
    typedef Fmt<T_Q4_0>::Raw Raw;
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) { return Fmt<T_Q4_0>::fetch(row, u); }
    __device__ __forceinline__ static float dot(const Raw& r, int u, const X8& x) {
        int e = 32 * u;
        int lo = dot16(r.q[0] & LO4, r.q[1] & LO4, r.q[2] & LO4, r.q[3] & LO4, x.q16(e));
        int hi = dot16((r.q[0] >> 4) & LO4, (r.q[1] >> 4) & LO4, (r.q[2] >> 4) & LO4, (r.q[3] >> 4) & LO4,
                       x.q16(e + 16));
        return h2f(r.d) * (x.scale(e) * (float)(lo + hi) - 8.f * (x.sum16(e) + x.sum16(e + 16)));
    }
};

// Q4_1: as Q4_0, x = d * q + m.
template <> struct Dot8<T_Q4_1> {
    static constexpr int UNIT = 32, UNR = 2;
    typedef Fmt<T_Q4_1>::Raw Raw;
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) { return Fmt<T_Q4_1>::fetch(row, u); }
    __device__ __forceinline__ static float dot(const Raw& r, int u, const X8& x) {
        int e = 32 * u;
        int lo = dot16(r.q[0] & LO4, r.q[1] & LO4, r.q[2] & LO4, r.q[3] & LO4, x.q16(e));
        int hi = dot16((r.q[0] >> 4) & LO4, (r.q[1] >> 4) & LO4, (r.q[2] >> 4) & LO4, (r.q[3] >> 4) & LO4,
                       x.q16(e + 16));
        return h2f(r.dm) * x.scale(e) * (float)(lo + hi) + h2f(r.dm >> 16) * (x.sum16(e) + x.sum16(e + 16));
    }
};

// Q4_K: a unit is 16 quant bytes of one 64-value chunk c: values l0..l0+15 of sub-block 2c (low nibbles) and of
// sub-block 2c + 1 (high nibbles), l0 = 0 or 16; eight units per 256-value super-block. The header (d, dmin and the
// packed 6-bit scales and mins) is one 16-byte load.
template <> struct Dot8<T_Q4_K> {
    static constexpr int UNIT = 32, UNR = 2;
    struct Raw { uint4 h, q; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 144 * (size_t)(u >> 3);
        int k = u & 7;
        Raw r;
        r.h = __ldg(reinterpret_cast<const uint4*>(blk));
        r.q = __ldg(reinterpret_cast<const uint4*>(blk + 16 + 16 * k));  // chunk k >> 1, half k & 1
        return r;
    }
    __device__ __forceinline__ static float dot(const Raw& r, int u, const X8& x) {
        int k = u & 7, c = k >> 1;
        int e = 256 * (u >> 3) + 64 * c + 16 * (k & 1);
        float sc1, m1, sc2, m2;
        kscales(r.h.y, r.h.z, r.h.w, c, sc1, m1, sc2, m2);
        int lo = dot16(r.q.x & LO4, r.q.y & LO4, r.q.z & LO4, r.q.w & LO4, x.q16(e));
        int hi = dot16((r.q.x >> 4) & LO4, (r.q.y >> 4) & LO4, (r.q.z >> 4) & LO4, (r.q.w >> 4) & LO4, x.q16(e + 32));
        float d = h2f(r.h.x), dmin = h2f(r.h.x >> 16);
        return d * (sc1 * x.scale(e) * (float)lo + sc2 * x.scale(e + 32) * (float)hi)
               - dmin * (m1 * x.sum16(e) + m2 * x.sum16(e + 32));
    }
};

// Q5_K: Q4_K's layout with a fifth bit per value: qh[32] after the header, bit 2c (2c + 1) of qh[l] for value l of
// sub-block 2c (2c + 1).
template <> struct Dot8<T_Q5_K> {
    static constexpr int UNIT = 32, UNR = 2;
    struct Raw { uint4 h, q, qh; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 176 * (size_t)(u >> 3);
        int k = u & 7;
        Raw r;
        r.h = __ldg(reinterpret_cast<const uint4*>(blk));
        r.qh = __ldg(reinterpret_cast<const uint4*>(blk + 16 + 16 * (k & 1)));
        r.q = __ldg(reinterpret_cast<const uint4*>(blk + 48 + 16 * k));
        return r;
    }
    __device__ __forceinline__ static float dot(const Raw& r, int u, const X8& x) {
        int k = u & 7, c = k >> 1;
        int e = 256 * (u >> 3) + 64 * c + 16 * (k & 1);
        float sc1, m1, sc2, m2;
        kscales(r.h.y, r.h.z, r.h.w, c, sc1, m1, sc2, m2);
        const uint32_t q[4] = {r.q.x, r.q.y, r.q.z, r.q.w}, h[4] = {r.qh.x, r.qh.y, r.qh.z, r.qh.w};
        uint32_t a[4], b[4];
#pragma unroll
        for (int j = 0; j < 4; j++) {
            a[j] = (q[j] & LO4) | (((h[j] >> (2 * c)) & 0x01010101u) << 4);
            b[j] = ((q[j] >> 4) & LO4) | (((h[j] >> (2 * c + 1)) & 0x01010101u) << 4);
        }
        int lo = dot16(a[0], a[1], a[2], a[3], x.q16(e));
        int hi = dot16(b[0], b[1], b[2], b[3], x.q16(e + 32));
        float d = h2f(r.h.x), dmin = h2f(r.h.x >> 16);
        return d * (sc1 * x.scale(e) * (float)lo + sc2 * x.scale(e + 32) * (float)hi)
               - dmin * (m1 * x.sum16(e) + m2 * x.sum16(e + 32));
    }
};

// Q6_K: the float kernel's unit (8 positions of one 128-value half in each of its four groups of 32); the 6-bit
// quants less 32 are signed bytes, multiplied as they are.
template <> struct Dot8<T_Q6_K> {
    static constexpr int UNIT = 32, UNR = 2;
    typedef Fmt<T_Q6_K>::Raw Raw;
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) { return Fmt<T_Q6_K>::fetch(row, u); }
    __device__ __forceinline__ static float dot(const Raw& r, int u, const X8& x) {
        int k = u & 7, n = k >> 2, l0 = (k & 3) * 8;
        int e = 256 * (u >> 3) + 128 * n + l0;
        const uint32_t a[2] = {r.a0, r.a1}, b[2] = {r.b0, r.b1}, h[2] = {r.h0, r.h1};
        const int2 x0 = x.q8(e), x1 = x.q8(e + 32), x2 = x.q8(e + 64), x3 = x.q8(e + 96);
        int s[4] = {0, 0, 0, 0};
#pragma unroll
        for (int j = 0; j < 2; j++) {
            uint32_t g0 = (a[j] & LO4) | ((h[j] & 0x03030303u) << 4);
            uint32_t g1 = (b[j] & LO4) | ((h[j] & 0x0C0C0C0Cu) << 2);
            uint32_t g2 = ((a[j] >> 4) & LO4) | (h[j] & 0x30303030u);
            uint32_t g3 = ((b[j] >> 4) & LO4) | ((h[j] >> 2) & 0x30303030u);
            // q - 32 per byte (0..63 - 32: no byte borrows from its neighbour)
            s[0] = __dp4a((int)__vsub4(g0, 0x20202020u), j ? x0.y : x0.x, s[0]);
            s[1] = __dp4a((int)__vsub4(g1, 0x20202020u), j ? x1.y : x1.x, s[1]);
            s[2] = __dp4a((int)__vsub4(g2, 0x20202020u), j ? x2.y : x2.x, s[2]);
            s[3] = __dp4a((int)__vsub4(g3, 0x20202020u), j ? x3.y : x3.x, s[3]);
        }
        return h2f(r.d) * (sbyte_f(r.sc0, 0) * x.scale(e) * (float)s[0] + sbyte_f(r.sc0, 1) * x.scale(e + 32) * (float)s[1]
                           + sbyte_f(r.sc1, 0) * x.scale(e + 64) * (float)s[2]
                           + sbyte_f(r.sc1, 1) * x.scale(e + 96) * (float)s[3]);
    }
};

#define MVX8_PARAMS                                                                                      \
    const uint8_t *__restrict__ w0, const uint8_t *__restrict__ w1, const uint8_t *__restrict__ w2,     \
        int rows0, int rows1, int rows2, long long rowBytes, int cols, const int8_t *__restrict__ xq,     \
        const float *__restrict__ xd, const float *__restrict__ xs, float *y0, float *y1, float *y2

// acc[t] += row a . x[t] (and acc2[t] += row b . x[t]) for NT activation rows, over the units lane, lane + 32, ... of
// a weight row: each lane fetches UNR units (both rows') before multiplying the first, so that several loads are in
// flight. Every unit fetched serves all NT rows: the weights cross memory once per step, whatever its row count, and
// the decoding of a unit (nibble masks, 6-bit scales), being the same for every t, is computed once (the calls are
// inlined and their common parts shared). Row t's sum runs in the same order as with NT = 1, so a row's result does not
// depend on how many rows its step has.
template <int TYPE, int NT, bool TWO>
__device__ __forceinline__ void dot_rows_x8(const uint8_t* rowA, const uint8_t* rowB, int units, const X8 (&x)[NT],
                                            float (&acc)[NT], float (&acc2)[NT]) {
    typedef Dot8<TYPE> F;
    for (int u0 = threadIdx.x & 31; u0 < units; u0 += 32 * F::UNR) {
        typename F::Raw ra[F::UNR], rb[TWO ? F::UNR : 1];
#pragma unroll
        for (int k = 0; k < F::UNR; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
                ra[k] = F::fetch(rowA, u);
                if (TWO) rb[k] = F::fetch(rowB, u);
            }
        }
#pragma unroll
        for (int k = 0; k < F::UNR; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
#pragma unroll
                for (int t = 0; t < NT; t++) {
                    acc[t] += F::dot(ra[k], u, x[t]);
                    if (TWO) acc2[t] += F::dot(rb[k], u, x[t]);
                }
            }
        }
    }
}

// One warp per pair of rows of one matrix (STORE, ADD) or per row of gate and up (SWIGLU), as matvec_body maps
// single-token launches, for NT tokens at once (row t of the activations at xq + t * cols, xd + t * cols / 32,
// xs + t * cols / 16; its outputs at y + t * rows): both weight rows share the activation loads, all tokens share the
// weight loads. NT > 1 serves short multi-token steps (a few sequences decoding together, a draft's verification).
template <int TYPE, int NT, int MODE>
__device__ __forceinline__ void matvec_x8_body(MVX8_PARAMS) {
    typedef Dot8<TYPE> F;
    constexpr bool SWI = MODE == MV_SWIGLU;
    const int lane = threadIdx.x & 31;
    int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const uint8_t* w = w0;
    float* y = y0;
    int rows = rows0;
    if (!SWI) {
        int n0 = (rows0 + 1) >> 1, n1 = (rows1 + 1) >> 1;
        if (r >= n0) {
            r -= n0;
            if (r < n1) {
                w = w1; y = y1; rows = rows1;
            } else {
                r -= n1;
                w = w2; y = y2; rows = rows2;
            }
        }
        r *= 2;
    }
    if (r >= rows) return;  // the last block's spare warps (whole warps: no barrier below)
    const bool second = SWI || r + 1 < rows;  // an odd matrix's last pair has one row
    X8 x[NT];
    float acc[NT], acc2[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) {
        x[t] = X8{xq + (size_t)t * cols, xd + (size_t)t * (cols / 32), xs + (size_t)t * (cols / 16)};
        acc[t] = 0.f;
        acc2[t] = 0.f;
    }
    const int units = cols / F::UNIT;
    const uint8_t* rowA = w + (size_t)r * rowBytes;
    const uint8_t* rowB = SWI ? w1 + (size_t)r * rowBytes : second ? rowA + rowBytes : rowA;
    dot_rows_x8<TYPE, NT, true>(rowA, rowB, units, x, acc, acc2);
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = warp_sum(acc[t]);
        acc2[t] = warp_sum(acc2[t]);
    }
    if (lane == 0) {
#pragma unroll
        for (int t = 0; t < NT; t++) {
            float* dst = y + (size_t)t * rows + r;
            if (SWI) {
                *dst = silu_mul(acc[t], acc2[t]);
            } else {
                if (MODE == MV_STORE) *dst = acc[t];
                else *dst = *dst + acc[t];
                if (second) {
                    if (MODE == MV_STORE) dst[1] = acc2[t];
                    else dst[1] = dst[1] + acc2[t];
                }
            }
        }
    }
}

// matvec_x8_<format>_n<NT>_m<MODE>: NT = 1..MVX8_MAX_TOKENS (CudaInt8Kernels.MAX_TOKENS) tokens.
#define MVX8_MAX_TOKENS 4
#define MVX8_INST(TYPE, NAME, NT, MODE)                                                                   \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS, MV_MIN_BLOCKS)                            \
        matvec_x8_##NAME##_n##NT##_m##MODE(MVX8_PARAMS) {                                                 \
        matvec_x8_body<TYPE, NT, MODE>(w0, w1, w2, rows0, rows1, rows2, rowBytes, cols, xq, xd, xs, y0, y1, y2); \
    }
#define MVX8_MODES(TYPE, NAME, NT) MVX8_INST(TYPE, NAME, NT, 0) MVX8_INST(TYPE, NAME, NT, 1) MVX8_INST(TYPE, NAME, NT, 2)
#define MVX8_ALL(TYPE, NAME) \
    MVX8_MODES(TYPE, NAME, 1) MVX8_MODES(TYPE, NAME, 2) MVX8_MODES(TYPE, NAME, 3) MVX8_MODES(TYPE, NAME, 4)

MVX8_ALL(T_Q8_0, q8_0)
MVX8_ALL(T_Q4_0, q4_0)
MVX8_ALL(T_Q4_1, q4_1)
MVX8_ALL(T_Q4_K, q4_k)
MVX8_ALL(T_Q5_K, q5_k)
MVX8_ALL(T_Q6_K, q6_k)

// ---------------------------------------------------------------------------------------------
// Mixture-of-experts decode on 8-bit activations
// ---------------------------------------------------------------------------------------------
// moe_gate_up / moe_down (moe.cuh) for one token's slots with the FFN input (one row of cols values) and the slots'
// hidden states (k rows of ffn values, quantized after moe_gate_up_x8 wrote them) quantized by quantize_x8. Same
// mapping: one warp per row of one slot (gate/up), per output row of the token (down: its k experts' units spread
// over the lanes together, below).
template <int TYPE>
__device__ __forceinline__ void moe_gate_up_x8_body(const uint8_t* __restrict__ gate, const uint8_t* __restrict__ up,
                                                    long long stride, int ffn, long long rowBytes, int cols,
                                                    const int8_t* __restrict__ xq, const float* __restrict__ xd,
                                                    const float* __restrict__ xs, const int* __restrict__ chosen,
                                                    int k, float* h) {
    typedef Dot8<TYPE> F;
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int slot = blockIdx.y;
    if (r >= ffn) return;
    const int e = chosen[slot];
    if (e < 0) return;  // computed elsewhere, as in moe_gate_up
    const int t = slot / k;
    const X8 x[1] = {X8{xq + (size_t)t * cols, xd + (size_t)t * (cols / 32), xs + (size_t)t * (cols / 16)}};
    const uint8_t* rowA = gate + (size_t)e * stride + (size_t)r * rowBytes;
    const uint8_t* rowB = up + (size_t)e * stride + (size_t)r * rowBytes;
    const int units = cols / F::UNIT;
    float acc[1] = {0.f}, acc2[1] = {0.f};
    dot_rows_x8<TYPE, 1, true>(rowA, rowB, units, x, acc, acc2);
    float g = warp_sum(acc[0]), v = warp_sum(acc2[0]);
    if (lane == 0) h[(size_t)slot * ffn + r] = silu_mul(g, v);
}

// One warp per output row r of token t. The row's k experts are one list of k * units (expert, unit) items spread
// over the lanes, and each lane fetches MOE_DOWN_UNR items before it multiplies the first: a row's k short dot
// products (768 values each in Qwen3-30B-A3B) then wait for one round of loads instead of k rounds one after another,
// and no lane idles where a row has fewer units than lanes. Each item is scaled by its choice's weight before the
// single warp sum.
#define MOE_DOWN_UNR 6
template <int TYPE>
__device__ __forceinline__ void moe_down_x8_body(const uint8_t* __restrict__ down, long long stride, int dim,
                                                 long long rowBytes, int ffn, const int8_t* __restrict__ hq,
                                                 const float* __restrict__ hd, const float* __restrict__ hs,
                                                 const int* __restrict__ chosen, const float* __restrict__ weights,
                                                 int k, float* x) {
    typedef Dot8<TYPE> F;
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t = blockIdx.y;
    if (r >= dim) return;
    const int units = ffn / F::UNIT;
    const int items = k * units;
    const size_t rowOffset = (size_t)r * rowBytes;
    float total = 0.f;
    for (int i0 = lane; i0 < items; i0 += 32 * MOE_DOWN_UNR) {
        typename F::Raw raw[MOE_DOWN_UNR];
        int slotOf[MOE_DOWN_UNR], unitOf[MOE_DOWN_UNR];
#pragma unroll
        for (int q = 0; q < MOE_DOWN_UNR; q++) {
            const int i = i0 + 32 * q;
            slotOf[q] = -1;
            if (i < items) {
                const int j = i / units;
                const int slot = t * k + j;
                const int e = chosen[slot];
                if (e >= 0) {  // e < 0: computed elsewhere, adds nothing here
                    slotOf[q] = slot;
                    unitOf[q] = i - j * units;
                    raw[q] = F::fetch(down + (size_t)e * stride + rowOffset, unitOf[q]);
                }
            }
        }
#pragma unroll
        for (int q = 0; q < MOE_DOWN_UNR; q++) {
            const int slot = slotOf[q];
            if (slot >= 0) {
                const X8 h{hq + (size_t)slot * ffn, hd + (size_t)slot * (ffn / 32), hs + (size_t)slot * (ffn / 16)};
                total = fmaf(__ldg(weights + slot), F::dot(raw[q], unitOf[q], h), total);
            }
        }
    }
    total = warp_sum(total);
    if (lane == 0) x[(size_t)t * dim + r] += total;
}

#define MOE_X8_INST(TYPE, NAME)                                                                                    \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_gate_up_x8_##NAME(                             \
        const uint8_t* gate, const uint8_t* up, long long stride, int ffn, long long rowBytes, int cols,           \
        const int8_t* xq, const float* xd, const float* xs, const int* chosen, int k, float* h) {                 \
        moe_gate_up_x8_body<TYPE>(gate, up, stride, ffn, rowBytes, cols, xq, xd, xs, chosen, k, h);                \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_down_x8_##NAME(                                \
        const uint8_t* down, long long stride, int dim, long long rowBytes, int ffn, const int8_t* hq,             \
        const float* hd, const float* hs, const int* chosen, const float* weights, int k, float* x) {              \
        moe_down_x8_body<TYPE>(down, stride, dim, rowBytes, ffn, hq, hd, hs, chosen, weights, k, x);               \
    }

MOE_X8_INST(T_Q8_0, q8_0)
MOE_X8_INST(T_Q4_0, q4_0)
MOE_X8_INST(T_Q4_1, q4_1)
MOE_X8_INST(T_Q4_K, q4_k)
MOE_X8_INST(T_Q5_K, q5_k)
MOE_X8_INST(T_Q6_K, q6_k)

// offload4j's CUDA kernels: everything a Llama-family forward pass needs, for every weight format the
// engine reads. Compiled by build.sh into one fatbin that the Java backend loads with cuModuleLoadData;
// kernels are extern "C" so that the backend finds them by plain names.
//
// Conventions shared with the Java side (CudaKernels.java):
//  * activations are float32, token-major: x[t * cols + i];
//  * weights are the GGUF tensor bytes, row after row (rowBytes apart), rows = output features;
//  * the KV cache is fp16, per block [position][kvDim];
//  * `params` is a small device array written before every forward call: params[0] = position of the
//    chunk's first token, params[1] = chunk length, params[2 + t] = token ids. Kernels that depend on
//    the position read it from there rather than from an argument, so the decode step can be
//    captured once in a CUDA graph and replayed for every token.
#include <cuda_fp16.h>
#include <mma.h>
#include <stdint.h>

#include "formats.cuh"

#include "common.cuh"

// ---------------------------------------------------------------------------------------------
// Matrix-vector products (decode, and prefill chunks of up to 8 tokens)
// ---------------------------------------------------------------------------------------------
//
// One warp per output row (single-token store and residual projections: per pair of rows, MV_PAIRED below), four
// warps per 128-thread block. Each lane strides over the row's units,
// first fetching UNR units (their raw bytes into registers, so UNR loads are in flight), then decoding
// each in registers and multiplying it with NT activation vectors: a weight byte is read once for all
// NT tokens. A warp reads its whole row and the whole activation vector, so the result is reduced with
// shuffles alone (no shared memory, no block barrier), and the RMSNorm that precedes every projection
// can be fused in: with normW set, the kernel multiplies x by the norm weights as it reads it,
// accumulates sum(x^2) on the side, and scales the dot product by 1 / sqrt(mean(x^2) + eps) at the
// end. That saves a launch (and a pass over x) per projection; x itself stays unnormalised.
//
// Up to three weight matrices of the same format and row length share one launch ("segments"): the
// grid spans rows0 + rows1 + rows2 rows and each warp finds its matrix. Q, K and V run as one launch.
//
// MODE 0 stores y = W x; MODE 1 adds into y (the residual connection, fused); MODE 2 computes the
// SwiGLU of two matrices with the same rows, y = silu(W0 x) * (W1 x), in one pass over x.
#define MV_STORE 0
#define MV_ADD 1
#define MV_SWIGLU 2
#define MV_WARPS 4
// Single-token store and residual projections take two rows of one matrix per warp: x is loaded (and normalised)
// once for both, and each warp has twice the bytes in flight. Measured on the H200 (tests/gpu/matvec_bench.cu, 3B
// step): Q4_K/Q6_K matvecs 1914 -> 1665 us, Q8_0 3175 -> 2492 us; each row's sum is unchanged, bit for bit. With
// several tokens the accumulators would not fit the registers, and SwiGLU already pairs gate with up.
// CudaKernels.matvecWarps mirrors this mapping to size the grid.
#ifndef MV_PAIRS
#define MV_PAIRS 1
#endif
#define MV_PAIRED(NT, MODE) (MV_PAIRS && (NT) == 1 && (MODE) != MV_SWIGLU)
// Single-token kernels are held to 128 registers (4 blocks of 128 threads per SM at least): the pairs' extra
// accumulators otherwise cost occupancy (measured: 1665 -> 1612 us for the Q4_K step above, Q8_0 2492 -> 2341).
#ifndef MV_MIN_BLOCKS
#define MV_MIN_BLOCKS 4
#endif

#define MV_PARAMS                                                                                        \
    const uint8_t *__restrict__ w0, const uint8_t *__restrict__ w1, const uint8_t *__restrict__ w2,     \
        int rows0, int rows1, int rows2, long long rowBytes, int cols, const float *__restrict__ x,       \
        float *y0, float *y1, float *y2, int nt, const float *__restrict__ normW, float eps
#define MV_ARGS w0, w1, w2, rows0, rows1, rows2, rowBytes, cols, x, y0, y1, y2, nt, normW, eps

__device__ __forceinline__ float silu_mul(float g, float u) {
    return g / (1.0f + expf(-g)) * u;
}

// acc[t] += wa . x_t (and acc2[t] += wb . x_t), over the unit's runs; with NORM, x is multiplied by
// the norm weights g first and ss[t] += x^2.
template <int NT, int RUNS, int RUNLEN, bool TWO, bool NORM>
__device__ __forceinline__ void dot_runs(const float* wa, const float* wb, const int* off, const float* __restrict__ x,
                                         int ldx, const float* __restrict__ g, float* acc, float* acc2, float* ss) {
#pragma unroll
    for (int r = 0; r < RUNS; r++) {
#pragma unroll
        for (int i = 0; i < RUNLEN / 4; i++) {
            float4 gg;
            if (NORM) gg = __ldg(reinterpret_cast<const float4*>(g + off[r]) + i);
#pragma unroll
            for (int t = 0; t < NT; t++) {
                float4 v = __ldg(reinterpret_cast<const float4*>(x + (size_t)t * ldx + off[r]) + i);
                if (NORM) {
                    ss[t] = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, ss[t]))));
                    v.x *= gg.x; v.y *= gg.y; v.z *= gg.z; v.w *= gg.w;
                }
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

template <int TYPE, int NT, int MODE, bool NORM>
__device__ __forceinline__ void matvec_body(MV_PARAMS) {
    typedef Fmt<TYPE> F;
    constexpr bool SWI = MODE == MV_SWIGLU;
    constexpr bool PAIR = MV_PAIRED(NT, MODE);     // two rows of one matrix per warp, sharing x
    constexpr bool TWO = SWI || PAIR;                // a second weight row per warp
    constexpr int UNR = TWO && F::UNR > 1 ? F::UNR / 2 : F::UNR;  // two rows: same bytes in flight
    const int lane = threadIdx.x & 31;
    int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);  // the warp's row (with PAIR: its pair of rows)
    const uint8_t* w = w0;
    float* y = y0;
    int rows = rows0;
    if (!SWI) {
        int n0 = PAIR ? (rows0 + 1) >> 1 : rows0, n1 = PAIR ? (rows1 + 1) >> 1 : rows1;
        if (r >= n0) {
            r -= n0;
            if (r < n1) {
                w = w1; y = y1; rows = rows1;
            } else {
                r -= n1;
                w = w2; y = y2; rows = rows2;
            }
        }
        if (PAIR) r *= 2;
    }
    if (r >= rows) return;  // the last block's spare warps (whole warps: no barrier below)
    const bool second = !PAIR || r + 1 < rows;  // an odd segment's last pair has one row
    const int units = cols / F::UNIT;
    float acc[NT], acc2[NT], ss[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) { acc[t] = 0.f; acc2[t] = 0.f; ss[t] = 0.f; }
    const uint8_t* rowA = w + (size_t)r * rowBytes;
    const uint8_t* rowB = PAIR ? (second ? rowA + rowBytes : rowA) : w1 + (size_t)r * rowBytes;
    for (int u0 = lane; u0 < units; u0 += 32 * UNR) {
        typename F::Raw ra[UNR], rb[UNR];
#pragma unroll
        for (int k = 0; k < UNR; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
                ra[k] = F::fetch(rowA, u);
                if (TWO) rb[k] = F::fetch(rowB, u);
            }
        }
#pragma unroll
        for (int k = 0; k < UNR; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
                float wa[F::UNIT], wb[TWO ? F::UNIT : 1];
                int off[F::RUNS];
                F::decode(ra[k], u, wa, off);
                if (TWO) F::decode(rb[k], u, wb, off);
                dot_runs<NT, F::RUNS, F::RUNLEN, TWO, NORM>(wa, wb, off, x, cols, normW, acc, acc2, ss);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < NT; t++) {
        acc[t] = warp_sum(acc[t]);
        if (TWO) acc2[t] = warp_sum(acc2[t]);
        if (NORM) {
            float scale = (float)(1.0 / sqrt((double)(warp_sum(ss[t]) / (float)cols + eps)));
            acc[t] *= scale;
            if (TWO) acc2[t] *= scale;
        }
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
                if (PAIR && second) {
                    if (MODE == MV_STORE) dst[1] = acc2[t];
                    else dst[1] = dst[1] + acc2[t];
                }
            }
        }
    }
}

// Store and SwiGLU projections come with and without the fused norm (chosen by normW != null); the
// residual projections (attention output, FFN down) never follow a norm.
#define MV_INST(TYPE, NAME, NT, MODE)                                                                            \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS, NT == 1 ? MV_MIN_BLOCKS : 1) matvec_##NAME##_n##NT##_m##MODE(MV_PARAMS) {   \
        if (MODE != MV_ADD && normW) matvec_body<TYPE, NT, MODE, MODE != MV_ADD>(MV_ARGS);                       \
        else matvec_body<TYPE, NT, MODE, false>(MV_ARGS);                                                        \
    }
#define MV_MODES(TYPE, NAME, NT) MV_INST(TYPE, NAME, NT, 0) MV_INST(TYPE, NAME, NT, 1) MV_INST(TYPE, NAME, NT, 2)
#define MV_ALL(TYPE, NAME) MV_MODES(TYPE, NAME, 1) MV_MODES(TYPE, NAME, 2) MV_MODES(TYPE, NAME, 4) MV_MODES(TYPE, NAME, 8)

MV_ALL(T_F32, f32)
MV_ALL(T_F16, f16)
MV_ALL(T_BF16, bf16)
MV_ALL(T_Q8_0, q8_0)
MV_ALL(T_Q4_0, q4_0)
MV_ALL(T_Q4_1, q4_1)
MV_ALL(T_Q4_K, q4_k)
MV_ALL(T_Q5_K, q5_k)
MV_ALL(T_Q6_K, q6_k)
MV_ALL(T_Q5_0, q5_0)
MV_ALL(T_Q5_1, q5_1)
MV_ALL(T_Q2_K, q2_k)
MV_ALL(T_Q3_K, q3_k)
MV_ALL(T_IQ4_NL, iq4_nl)
MV_ALL(T_IQ4_XS, iq4_xs)

// Unquantized rows whose length is not a multiple of the vector width: one element at a time, one
// block (64 threads) per row. Here `nt` packs the token count (low byte, <= 8) and the mode (nt >> 8),
// since these kernels serve every mode with one instantiation; rare shapes only (stories260K's
// 172-wide FFN in F16), so speed does not matter. The optional norm is fused as in matvec_body.
template <int TYPE>
__device__ __forceinline__ void matvec_scalar_body(MV_PARAMS) {
    typedef Fmt<TYPE> F;
    const int count = nt & 0xFF, mode = nt >> 8;
    int r = blockIdx.x;
    const uint8_t* w = w0;
    float* y = y0;
    int rows = rows0;
    if (mode != MV_SWIGLU && r >= rows0) {
        r -= rows0;
        if (r < rows1) {
            w = w1; y = y1; rows = rows1;
        } else {
            r -= rows1;
            w = w2; y = y2; rows = rows2;
        }
    }
    __shared__ float scratch[32];
    const uint8_t* row = w + (size_t)r * rowBytes;
    const uint8_t* row2 = w1 + (size_t)r * rowBytes;
    for (int t = 0; t < count; t++) {
        float s = 0.f, s2 = 0.f, q = 0.f;
        for (int i = threadIdx.x; i < cols; i += blockDim.x) {
            float xv = x[(size_t)t * cols + i];
            if (normW) {
                q = fmaf(xv, xv, q);
                xv *= normW[i];
            }
            s = fmaf(F::one(row, i), xv, s);
            if (mode == MV_SWIGLU) s2 = fmaf(F::one(row2, i), xv, s2);
        }
        s = block_sum(s, scratch);
        if (mode == MV_SWIGLU) s2 = block_sum(s2, scratch);
        if (normW) {
            float scale = (float)(1.0 / sqrt((double)(block_sum(q, scratch) / (float)cols + eps)));
            s *= scale;
            s2 *= scale;
        }
        if (threadIdx.x == 0) {
            float* dst = y + (size_t)t * rows + r;
            if (mode == MV_STORE) *dst = s;
            else if (mode == MV_ADD) *dst = *dst + s;
            else *dst = silu_mul(s, s2);
        }
    }
}

extern "C" __global__ void matvec_scalar_f32(MV_PARAMS) { matvec_scalar_body<T_F32>(MV_ARGS); }
extern "C" __global__ void matvec_scalar_f16(MV_PARAMS) { matvec_scalar_body<T_F16>(MV_ARGS); }
extern "C" __global__ void matvec_scalar_bf16(MV_PARAMS) { matvec_scalar_body<T_BF16>(MV_ARGS); }

// ---------------------------------------------------------------------------------------------
// Dequantization: embedding rows (gather) and whole matrices to fp16 (prefill GEMM operands)
// ---------------------------------------------------------------------------------------------

// x[t] = row tokens[t] of the embedding; grid (T, ceil(units / blockDim)).
template <int TYPE>
__device__ __forceinline__ void embed_body(const uint8_t* __restrict__ w, long long rowBytes, int cols,
                                           const int* __restrict__ params, float* __restrict__ x) {
    typedef Fmt<TYPE> F;
    int t = blockIdx.x;
    int u = blockIdx.y * blockDim.x + threadIdx.x;
    if (u >= cols / F::UNIT) return;
    const uint8_t* row = w + (size_t)params[P_TOKENS + t] * rowBytes;
    float v[F::UNIT];
    int off[F::RUNS];
    load_unit<TYPE>(row, u, v, off);
    float* out = x + (size_t)t * cols;
#pragma unroll
    for (int r = 0; r < F::RUNS; r++) {
#pragma unroll
        for (int i = 0; i < F::RUNLEN; i++) out[off[r] + i] = v[r * F::RUNLEN + i];
    }
}

// Whole matrix to fp16, row-major [rows][cols]; one unit per thread.
template <int TYPE>
__device__ __forceinline__ void dequant_f16_body(const uint8_t* __restrict__ w, long long rowBytes, int rows, int cols,
                                                 __half* __restrict__ out) {
    typedef Fmt<TYPE> F;
    const int units = cols / F::UNIT;
    long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (g >= (long long)rows * units) return;
    int r = (int)(g / units), u = (int)(g % units);
    float v[F::UNIT];
    int off[F::RUNS];
    load_unit<TYPE>(w + (size_t)r * rowBytes, u, v, off);
    __half* o = out + (size_t)r * cols;
#pragma unroll
    for (int rr = 0; rr < F::RUNS; rr++) {
#pragma unroll
        for (int i = 0; i < F::RUNLEN; i += 2) {
            *reinterpret_cast<__half2*>(o + off[rr] + i) =
                __floats2half2_rn(v[rr * F::RUNLEN + i], v[rr * F::RUNLEN + i + 1]);
        }
    }
}

#define DQ_INST(TYPE, NAME)                                                                                     \
    extern "C" __global__ void embed_##NAME(const uint8_t* w, long long rowBytes, int cols, const int* params,  \
                                            float* x) {                                                         \
        embed_body<TYPE>(w, rowBytes, cols, params, x);                                                        \
    }                                                                                                           \
    extern "C" __global__ void dequant_f16_##NAME(const uint8_t* w, long long rowBytes, int rows, int cols,     \
                                                  __half* out) {                                                \
        dequant_f16_body<TYPE>(w, rowBytes, rows, cols, out);                                                   \
    }

DQ_INST(T_F32, f32)
DQ_INST(T_F16, f16)
DQ_INST(T_BF16, bf16)
DQ_INST(T_Q8_0, q8_0)
DQ_INST(T_Q4_0, q4_0)
DQ_INST(T_Q4_1, q4_1)
DQ_INST(T_Q4_K, q4_k)
DQ_INST(T_Q5_K, q5_k)
DQ_INST(T_Q6_K, q6_k)
DQ_INST(T_Q5_0, q5_0)
DQ_INST(T_Q5_1, q5_1)
DQ_INST(T_Q2_K, q2_k)
DQ_INST(T_Q3_K, q3_k)
DQ_INST(T_IQ4_NL, iq4_nl)
DQ_INST(T_IQ4_XS, iq4_xs)

// Embedding gather for unquantized rows of any length.
template <int TYPE>
__device__ __forceinline__ void embed_scalar_body(const uint8_t* w, long long rowBytes, int cols, const int* params,
                                                  float* x) {
    int t = blockIdx.x;
    const uint8_t* row = w + (size_t)params[P_TOKENS + t] * rowBytes;
    for (int i = blockIdx.y * blockDim.x + threadIdx.x; i < cols; i += gridDim.y * blockDim.x)
        x[(size_t)t * cols + i] = Fmt<TYPE>::one(row, i);
}
extern "C" __global__ void embed_scalar_f32(const uint8_t* w, long long rb, int cols, const int* p, float* x) {
    embed_scalar_body<T_F32>(w, rb, cols, p, x);
}
extern "C" __global__ void embed_scalar_f16(const uint8_t* w, long long rb, int cols, const int* p, float* x) {
    embed_scalar_body<T_F16>(w, rb, cols, p, x);
}
extern "C" __global__ void embed_scalar_bf16(const uint8_t* w, long long rb, int cols, const int* p, float* x) {
    embed_scalar_body<T_BF16>(w, rb, cols, p, x);
}

// ---------------------------------------------------------------------------------------------
// Element-wise kernels
// ---------------------------------------------------------------------------------------------

// RMSNorm of one row per block: out = x * (1 / sqrt(mean(x^2) + eps)) * weight, computed in the same
// order as the CPU pass. out16 (optional) receives an fp16 copy for the tensor-core GEMM.
extern "C" __global__ void rmsnorm(const float* __restrict__ x, const float* __restrict__ weight, float* out,
                                   __half* out16, int n, float eps) {
    __shared__ float scratch[32];
    const float* xr = x + (size_t)blockIdx.x * n;
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(xr[i], xr[i], ss);
    ss = block_sum(ss, scratch);
    float mean = ss / (float)n + eps;
    float scale = (float)(1.0 / sqrt((double)mean));
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float v = xr[i] * scale * weight[i];
        if (out) out[(size_t)blockIdx.x * n + i] = v;
        if (out16) out16[(size_t)blockIdx.x * n + i] = __float2half_rn(v);
    }
}

// out16 = silu(g) * u, for the GEMM path (two separate projections).
extern "C" __global__ void swiglu_f16(const float* __restrict__ g, const float* __restrict__ u, __half* out,
                                      long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(silu_mul(g[i], u[i]));
}

// Gemma's GeGLU: GELU with the tanh approximation (transformers' gelu_pytorch_tanh), as the CPU pass computes it.
__device__ __forceinline__ float gelu_tanh_mul(float g, float u) {
    float inner = 0.7978845608028654f * (g + 0.044715f * g * g * g);
    return 0.5f * g * (1.f + tanhf(inner)) * u;
}

// g = gelu(g) * u in place (matrix-vector path: gate and up stored by one STORE launch).
extern "C" __global__ void geglu(float* g, const float* __restrict__ u, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) g[i] = gelu_tanh_mul(g[i], u[i]);
}

// out16 = gelu(g) * u, for the GEMM path.
extern "C" __global__ void geglu_f16(const float* __restrict__ g, const float* __restrict__ u, __half* out,
                                     long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(gelu_tanh_mul(g[i], u[i]));
}

// Gemma's post-norms: x += RMSNorm(t) * weight, one row per block (t is the attention or FFN output).
extern "C" __global__ void rmsnorm_add(const float* __restrict__ t, const float* __restrict__ weight, float* x,
                                       int n, float eps) {
    __shared__ float scratch[32];
    const float* tr = t + (size_t)blockIdx.x * n;
    float ss = 0.f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) ss = fmaf(tr[i], tr[i], ss);
    ss = block_sum(ss, scratch);
    float mean = ss / (float)n + eps;
    float scale = (float)(1.0 / sqrt((double)mean));
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[(size_t)blockIdx.x * n + i] += tr[i] * scale * weight[i];
}

// Gemma 2's final logit soft-cap: x = cap * tanh(x / cap).
extern "C" __global__ void softcap(float* x, long long n, float cap) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = cap * tanhf(x[i] / cap);
}

// Small host-to-GPU transfers (a token's activation, a K/V row, step parameters) read by the SMs straight from
// mapped pinned host memory. A cudaMemcpy would queue on the host-to-device copy engine behind whatever streamed
// unit (hundreds of MiB, milliseconds) is being copied, and the step's critical path would wait for it.
extern "C" __global__ void copy_words(const unsigned int* __restrict__ src, unsigned int* __restrict__ dst,
                                      long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) dst[i] = src[i];
}

extern "C" __global__ void f32_to_f16(const float* __restrict__ in, __half* out, long long n) {
    long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = __float2half_rn(in[i]);
}

// ---------------------------------------------------------------------------------------------
// Q/K/V post-processing: biases (qwen2), per-head RMSNorm (qwen3), RoPE, and the K/V cache store
// ---------------------------------------------------------------------------------------------
//
// grid (T, heads + 2 * kvHeads): block y < heads is a query head, then the key heads, then the value
// heads. hd / 2 threads, each owning one pair of elements: the pair RoPE rotates together (adjacent
// (2i, 2i+1) for llama's GGUF layout, (i, i + ropeDims/2) for NEOX/qwen), or two untouched elements
// past ropeDims. Angles are computed in double, as on the CPU, so both sides rotate by the same
// float cos/sin; both are multiplied by ropeScale (LongRoPE's attention factor, else 1), which scales the
// rotated dimensions only, as transformers and llama.cpp do.
//
// qkv_post_batch: one token of each of gridDim.x sequences (a batched decode step), token t at position
// seqParams[4 t] of its own cache, whose key and value addresses for this block are kv[2 t], kv[2 t + 1] and
// whose ring is rings[t] (tables the host writes per step, so a CUDA graph of the step serves any caches).
__device__ __forceinline__ void qkv_post_body(float* q, const float* k, const float* v, const float* qBias,
                                              const float* kBias, const float* vBias, const float* qNorm,
                                              const float* kNorm, const double* invFreq, int ropeDims,
                                              int halvesLayout, float eps, int t, int pos, __half* kCache,
                                              __half* vCache, int heads, int kvHeads, int hd, float ropeScale,
                                              int ring) {
    __shared__ float scratch[32];
    int h = blockIdx.y, i = threadIdx.x;
    // a sliding block's ring of R rows keeps position p in row p mod R and again in row p mod R + R
    int row = ring ? pos % ring : pos;
    int kvDim = kvHeads * hd;
    int half = ropeDims / 2;
    bool active = i < hd / 2;
    int a, b;
    if (i < half) {
        a = halvesLayout ? i : 2 * i;
        b = halvesLayout ? i + half : 2 * i + 1;
    } else {
        a = ropeDims + 2 * (i - half);
        b = a + 1;
    }
    if (h >= heads + kvHeads) {
        // value head: bias, then store
        int vh = h - heads - kvHeads;
        if (active) {
            const float* src = v + (size_t)t * kvDim + vh * hd;
            float va = src[2 * i], vb = src[2 * i + 1];
            if (vBias) { va += vBias[vh * hd + 2 * i]; vb += vBias[vh * hd + 2 * i + 1]; }
            for (int c = 0, r = row; c < (ring ? 2 : 1); c++, r += ring) {
                __half* dst = vCache + (size_t)r * kvDim + vh * hd;
                dst[2 * i] = __float2half_rn(va);
                dst[2 * i + 1] = __float2half_rn(vb);
            }
        }
        return;
    }
    bool isQ = h < heads;
    int hh = isQ ? h : h - heads;
    const float* src = isQ ? q + ((size_t)t * heads + hh) * hd : k + (size_t)t * kvDim + hh * hd;
    const float* bias = isQ ? qBias : kBias;
    const float* norm = isQ ? qNorm : kNorm;
    float xa = 0.f, xb = 0.f;
    if (active) {
        xa = src[a];
        xb = src[b];
        if (bias) { xa += bias[hh * hd + a]; xb += bias[hh * hd + b]; }
    }
    if (norm) {  // uniform across the block, so the barrier inside block_sum is safe
        float ss = block_sum(active ? xa * xa + xb * xb : 0.f, scratch);
        float scale = (float)(1.0 / sqrt((double)(ss / (float)hd + eps)));
        if (active) { xa = xa * scale * norm[a]; xb = xb * scale * norm[b]; }
    }
    if (!active) return;
    if (i < half) {
        double s, c;
        sincos((double)pos * invFreq[i], &s, &c);
        float cs = (float)c * ropeScale, sn = (float)s * ropeScale;
        float ra = xa * cs - xb * sn;
        float rb = xa * sn + xb * cs;
        xa = ra;
        xb = rb;
    }
    if (isQ) {
        float* dst = q + ((size_t)t * heads + hh) * hd;
        dst[a] = xa;
        dst[b] = xb;
    } else {
        for (int c = 0, r = row; c < (ring ? 2 : 1); c++, r += ring) {
            __half* dst = kCache + (size_t)r * kvDim + hh * hd;
            dst[a] = __float2half_rn(xa);
            dst[b] = __float2half_rn(xb);
        }
    }
}

#define QKV_POST_PARAMS                                                                                     \
    float *q, const float *k, const float *v, const float *qBias, const float *kBias, const float *vBias,     \
        const float *qNorm, const float *kNorm, const double *invFreq, int ropeDims, int halvesLayout, float eps
#define QKV_POST_ARGS q, k, v, qBias, kBias, vBias, qNorm, kNorm, invFreq, ropeDims, halvesLayout, eps

extern "C" __global__ void qkv_post(QKV_POST_PARAMS, const int* __restrict__ params, __half* kCache, __half* vCache,
                                    int heads, int kvHeads, int hd, float ropeScale, int ring) {
    int t = blockIdx.x;
    qkv_post_body(QKV_POST_ARGS, t, params[P_POS] + t, kCache, vCache, heads, kvHeads, hd, ropeScale, ring);
}

extern "C" __global__ void qkv_post_batch(QKV_POST_PARAMS, const int* __restrict__ seqParams,
                                          const unsigned long long* __restrict__ kv, const int* __restrict__ rings,
                                          int heads, int kvHeads, int hd, float ropeScale) {
    int t = blockIdx.x;
    qkv_post_body(QKV_POST_ARGS, t, seqParams[4 * t], reinterpret_cast<__half*>(kv[2 * t]),
                  reinterpret_cast<__half*>(kv[2 * t + 1]), heads, kvHeads, hd, ropeScale, rings[t]);
}
#undef QKV_POST_ARGS
#undef QKV_POST_PARAMS

#include "attention.cuh"
#include "gemm_prefill.cuh"
#include "gemm_small.cuh"
#include "moe.cuh"
#include "moe_gemm.cuh"
#include "encoder.cuh"
#include "matvec_x8.cuh"

// BERT-family encoders (BERT, RoBERTa, XLM-R): the kernels the decoder path has no equivalent of. Included
// from offload4j.cu (after its reductions). Driven by backend/cuda/CudaEncoderPass.java.
//
// Several inputs run in one pass, packed: their tokens are consecutive rows of one fp32 activation matrix
// ([rows][dim], row-major), and each row attends bidirectionally to the rows of its own input only, whose
// bounds [rowStart[r], rowEnd[r]) come from the host with the token ids. Everything is fp32 with fp32
// accumulation (the CPU pass's arithmetic; LayerNorm statistics in double, as on the CPU): encoders are small
// and their users compare vectors by cosine, so the tensor-core fp16 path of the decoders is not used here.
//
//  * enc_gemm, enc_gemm_wide: C = A · B^T + bias, then an optional GELU (erf or tanh): every projection of a block
//    (the wide one for big products, where its larger tiles still fill the GPU);
//  * enc_embed_norm: word rows (gathered by the decoders' embed_* kernels) + position + token type, LayerNorm;
//  * enc_add_layernorm: x = LayerNorm(x + t), the post-LayerNorm residual of BERT's blocks;
//  * enc_attention: softmax(q·k / sqrt(hd)) · v per (row, head) over the row's own input, non-causal;
//  * enc_rope: nomic-bert's rotary positions on the Q and K parts of the fused QKV rows (NEOX halves);
//  * enc_swiglu: nomic-bert's gated feed-forward, silu(gate) * up, between the gate/up GEMM and the down one.
// A null bias pointer means "no bias" everywhere (for encoders without them, e.g. nomic-bert), and a null
// position table "no learned positions" (nomic-bert: rotary instead).

#define ENC_ACT_NONE 0
#define ENC_ACT_GELU_ERF 1
#define ENC_ACT_GELU_TANH 2

__device__ __forceinline__ float enc_activation(float y, int act) {
    if (act == ENC_ACT_GELU_ERF) return 0.5f * y * (1.f + erff(y * 0.7071067811865476f));
    if (act == ENC_ACT_GELU_TANH) {
        float inner = 0.7978845608028654f * (y + 0.044715f * y * y * y);
        return 0.5f * y * (1.f + tanhf(inner));
    }
    return y;
}

// ---------------------------------------------------------------------------------------------
// fp32 GEMM with a bias + activation epilogue: C[M][N] = act(A[M][K] · B[N][K]^T + bias[N])
// ---------------------------------------------------------------------------------------------
//
// Block tile 64 x 64, K step 16, 256 threads of 4 x 4 outputs each. Both operands are K-contiguous (A: the
// activations, B: a weight matrix whose rows are output features) and are staged K-major in shared memory,
// so that each thread reads its 4 A values and 4 B values of a k as one float4 each. Any M, N, K (edges
// are bounds-checked and zero-filled).
#define EG_BM 64
#define EG_BN 64
#define EG_BK 16
#define EG_LD (EG_BM + 4)  // 272-byte rows: float4 reads stay 16-byte aligned

extern "C" __global__ void __launch_bounds__(256) enc_gemm(const float* __restrict__ A, const float* __restrict__ B,
                                                           const float* __restrict__ bias, float* __restrict__ C,
                                                           int M, int N, int K, int act) {
    __shared__ __align__(16) float As[EG_BK * EG_LD];
    __shared__ __align__(16) float Bs[EG_BK * EG_LD];
    int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    int m0 = blockIdx.y * EG_BM, n0 = blockIdx.x * EG_BN;
    int lr = tid >> 2, lk = (tid & 3) * 4;  // the row and first k this thread stages
    bool aok = m0 + lr < M, bok = n0 + lr < N;
    const float* arow = A + (size_t)(aok ? m0 + lr : 0) * K;
    const float* brow = B + (size_t)(bok ? n0 + lr : 0) * K;
    float acc[4][4];
#pragma unroll
    for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
    for (int k0 = 0; k0 < K; k0 += EG_BK) {
#pragma unroll
        for (int i = 0; i < 4; i++) {
            int k = k0 + lk + i;
            As[(lk + i) * EG_LD + lr] = aok && k < K ? arow[k] : 0.f;
            Bs[(lk + i) * EG_LD + lr] = bok && k < K ? brow[k] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < EG_BK; kk++) {
            float4 a = *reinterpret_cast<const float4*>(As + kk * EG_LD + ty * 4);
            float4 b = *reinterpret_cast<const float4*>(Bs + kk * EG_LD + tx * 4);
            float av[4] = {a.x, a.y, a.z, a.w};
            float bv[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 4; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 4; i++) {
        int m = m0 + ty * 4 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tx * 4 + j;
            if (n < N) C[(size_t)m * N + n] = enc_activation(acc[i][j] + (bias ? bias[n] : 0.f), act);
        }
    }
}

// The same product for large problems: block tile 128 x 64, 8 x 4 outputs per thread (3 shared-memory reads per
// 32 multiply-adds instead of 2 per 16), float4 global loads where K is a multiple of 4. Fewer, bigger blocks: the
// backend takes it only when the grid still has a few blocks per SM.
#define EW_BM 128
#define EW_BN 64
#define EW_BK 16
#define EW_LDA (EW_BM + 4)
#define EW_LDB (EW_BN + 4)

extern "C" __global__ void __launch_bounds__(256) enc_gemm_wide(const float* __restrict__ A,
                                                                const float* __restrict__ B,
                                                                const float* __restrict__ bias, float* __restrict__ C,
                                                                int M, int N, int K, int act) {
    __shared__ __align__(16) float As[EW_BK * EW_LDA];
    __shared__ __align__(16) float Bs[EW_BK * EW_LDB];
    int tid = threadIdx.x, tx = tid & 15, ty = tid >> 4;
    int m0 = blockIdx.y * EW_BM, n0 = blockIdx.x * EW_BN;
    int ar = tid >> 1, ak = (tid & 1) * 8;  // A: 128 rows x 16 k, 8 per thread
    int br = tid >> 2, bk = (tid & 3) * 4;  // B: 64 rows x 16 k, 4 per thread
    bool aok = m0 + ar < M, bok = n0 + br < N;
    bool vec = (K & 3) == 0;
    const float* arow = A + (size_t)(aok ? m0 + ar : 0) * K;
    const float* brow = B + (size_t)(bok ? n0 + br : 0) * K;
    float acc[8][4];
#pragma unroll
    for (int i = 0; i < 8; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
    for (int k0 = 0; k0 < K; k0 += EW_BK) {
        float av[8], bv[4];
        if (vec && k0 + EW_BK <= K) {
            float4 a0 = aok ? *reinterpret_cast<const float4*>(arow + k0 + ak) : make_float4(0.f, 0.f, 0.f, 0.f);
            float4 a1 = aok ? *reinterpret_cast<const float4*>(arow + k0 + ak + 4) : make_float4(0.f, 0.f, 0.f, 0.f);
            float4 b0 = bok ? *reinterpret_cast<const float4*>(brow + k0 + bk) : make_float4(0.f, 0.f, 0.f, 0.f);
            av[0] = a0.x; av[1] = a0.y; av[2] = a0.z; av[3] = a0.w;
            av[4] = a1.x; av[5] = a1.y; av[6] = a1.z; av[7] = a1.w;
            bv[0] = b0.x; bv[1] = b0.y; bv[2] = b0.z; bv[3] = b0.w;
        } else {
#pragma unroll
            for (int i = 0; i < 8; i++) av[i] = aok && k0 + ak + i < K ? arow[k0 + ak + i] : 0.f;
#pragma unroll
            for (int i = 0; i < 4; i++) bv[i] = bok && k0 + bk + i < K ? brow[k0 + bk + i] : 0.f;
        }
#pragma unroll
        for (int i = 0; i < 8; i++) As[(ak + i) * EW_LDA + ar] = av[i];
#pragma unroll
        for (int i = 0; i < 4; i++) Bs[(bk + i) * EW_LDB + br] = bv[i];
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < EW_BK; kk++) {
            float4 a0 = *reinterpret_cast<const float4*>(As + kk * EW_LDA + ty * 8);
            float4 a1 = *reinterpret_cast<const float4*>(As + kk * EW_LDA + ty * 8 + 4);
            float4 b = *reinterpret_cast<const float4*>(Bs + kk * EW_LDB + tx * 4);
            float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            float bb[4] = {b.x, b.y, b.z, b.w};
#pragma unroll
            for (int i = 0; i < 8; i++)
#pragma unroll
                for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], bb[j], acc[i][j]);
        }
        __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < 8; i++) {
        int m = m0 + ty * 8 + i;
        if (m >= M) continue;
#pragma unroll
        for (int j = 0; j < 4; j++) {
            int n = n0 + tx * 4 + j;
            if (n < N) C[(size_t)m * N + n] = enc_activation(acc[i][j] + (bias ? bias[n] : 0.f), act);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// LayerNorm (statistics in double, like the CPU pass)
// ---------------------------------------------------------------------------------------------

// Sum over the whole block (blockDim.x a multiple of 32); every thread gets the result. The leading barrier
// lets a second call reuse `scratch` after the first call's readers are done.
__device__ double enc_block_sum(double v, double* scratch /* 32 doubles */) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    double r = 0.0;
    for (int i = 0; i < warps; i++) r += scratch[i];
    return r;
}

// xr = (xr - mean) / sqrt(var + eps) * gain + bias, in place. Each thread touches the elements
// threadIdx.x + k * blockDim.x only, the same ones it wrote before the call (no barrier needed for them).
__device__ void enc_layernorm_row(float* xr, int n, const float* __restrict__ gain, const float* __restrict__ bias,
                                  float eps, double* scratch) {
    double s = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += xr[i];
    double mean = enc_block_sum(s, scratch) / n;
    double ss = 0.0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        double d = xr[i] - mean;
        ss += d * d;
    }
    double var = enc_block_sum(ss, scratch) / n;
    float scale = (float)(1.0 / sqrt(var + (double)eps));
    float m = (float)mean;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float g = gain ? gain[i] : 1.f;
        xr[i] = (xr[i] - m) * scale * g + (bias ? bias[i] : 0.f);
    }
}

// x[r] = LayerNorm(x[r] + t[r]) for each row r = blockIdx.x (t null: LayerNorm(x[r])).
extern "C" __global__ void enc_add_layernorm(float* x, const float* __restrict__ t, const float* __restrict__ gain,
                                             const float* __restrict__ bias, int n, float eps) {
    __shared__ double scratch[32];
    float* xr = x + (size_t)blockIdx.x * n;
    if (t) {
        const float* tr = t + (size_t)blockIdx.x * n;
        for (int i = threadIdx.x; i < n; i += blockDim.x) xr[i] += tr[i];
    }
    enc_layernorm_row(xr, n, gain, bias, eps, scratch);
}

// x[r] = LayerNorm(x[r] + (positions[posIdx[r]] + types[typeIds[r]])): x holds the word embedding rows. A null
// position table (rotary positions, nomic-bert): x[r] = LayerNorm(x[r] + types[typeIds[r]]), as the CPU pass.
extern "C" __global__ void enc_embed_norm(float* x, const float* __restrict__ positions,
                                          const float* __restrict__ types, const int* __restrict__ posIdx,
                                          const int* __restrict__ typeIds, const float* __restrict__ gain,
                                          const float* __restrict__ bias, int n, float eps) {
    __shared__ double scratch[32];
    int r = blockIdx.x;
    float* xr = x + (size_t)r * n;
    const float* tr = types + (size_t)typeIds[r] * n;
    if (positions) {
        const float* pr = positions + (size_t)posIdx[r] * n;
        for (int i = threadIdx.x; i < n; i += blockDim.x) xr[i] += pr[i] + tr[i];
    } else {
        for (int i = threadIdx.x; i < n; i += blockDim.x) xr[i] += tr[i];
    }
    enc_layernorm_row(xr, n, gain, bias, eps, scratch);
}

// ---------------------------------------------------------------------------------------------
// nomic-bert: rotary positions and the SwiGLU feed-forward
// ---------------------------------------------------------------------------------------------

// Rotates Q and K (the first two thirds of each [3 * dim] row of qkv) in place, every head, by the row's position
// within its own input, r - rowStart[r]: NEOX layout, dimension i pairs with i + hd/2,
//   (x0, x1) -> (x0 cos - x1 sin, x0 sin + x1 cos),  angle = position * base^(-2i/hd).
// cos and sin come from tables [position * (hd/2) + i] computed once on the host in double precision (the CPU
// pass's own numbers), so both passes rotate by exactly the same fp32 factors. One block per row; each thread
// owns whole pairs, so the update in place needs no barrier.
extern "C" __global__ void enc_rope(float* qkv, const int* __restrict__ rowStart, const float* __restrict__ cosTable,
                                    const float* __restrict__ sinTable, int heads, int hd) {
    int r = blockIdx.x;
    int half = hd / 2, dim = heads * hd;
    int pairs = 2 * heads * half;  // Q's heads, then K's
    float* row = qkv + (size_t)r * 3 * dim;
    const float* c = cosTable + (size_t)(r - rowStart[r]) * half;
    const float* s = sinTable + (size_t)(r - rowStart[r]) * half;
    for (int p = threadIdx.x; p < pairs; p += blockDim.x) {
        int head = p / half, i = p % half;  // head 0 .. 2*heads-1: K's heads follow Q's, both hd apart
        float* v = row + head * hd;
        float x0 = v[i], x1 = v[i + half];
        float cs = c[i], sn = s[i];
        v[i] = x0 * cs - x1 * sn;
        v[i + half] = x0 * sn + x1 * cs;
    }
}

// out[r][i] = silu(gu[r][i]) * gu[r][ffn + i] for rows x ffn elements: gu holds, per row, the gate projection's
// ffn outputs then the up projection's (one GEMM over the stacked weights); out is the compact [rows][ffn] input
// of the down projection. silu(g) = g / (1 + exp(-g)), fp32, as the CPU pass.
extern "C" __global__ void enc_swiglu(const float* __restrict__ gu, float* __restrict__ out, int rows, int ffn) {
    size_t total = (size_t)rows * ffn;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += (size_t)gridDim.x * blockDim.x) {
        size_t r = e / ffn, i = e % ffn;
        float g = gu[r * 2 * ffn + i];
        out[e] = g / (1.f + expf(-g)) * gu[r * 2 * ffn + ffn + i];
    }
}

// ---------------------------------------------------------------------------------------------
// Packed bidirectional attention
// ---------------------------------------------------------------------------------------------
//
// qkv is [rows][3 * dim]: a row's queries, then its keys, then its values (one fused projection), head h at
// h * hd within each. grid (heads, ceil(rows / 8)), 4 warps, 2 query rows per warp, as attn_prefill: the
// block's 8 rows are consecutive, so the keys any of them sees are the rows rowStart[first] ..
// rowEnd[last] - 1; they are staged through shared memory 32 at a time (fp32, K rows padded to hd + 1 words
// so that lane j reading key j hits its own bank) and each warp runs an online softmax over the staged keys
// that belong to its row's input. hd <= ENC_MAX_HD, a multiple of nothing in particular.
#define EA_Q 8
#define EA_KT 32
#define ENC_MAX_HD 128

extern "C" __global__ void __launch_bounds__(128) enc_attention(const float* __restrict__ qkv,
                                                                const int* __restrict__ rowStart,
                                                                const int* __restrict__ rowEnd,
                                                                float* __restrict__ out, int rows, int heads, int hd,
                                                                float scale) {
    extern __shared__ float sm[];
    const int dim = heads * hd, ld = 3 * dim, kld = hd + 1;
    float* qs = sm;                // EA_Q * hd
    float* ks = qs + EA_Q * hd;    // EA_KT * kld
    float* vs = ks + EA_KT * kld;  // EA_KT * hd
    int h = blockIdx.x, lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int t0 = blockIdx.y * EA_Q;
    int nq = min(EA_Q, rows - t0);
    for (int i = threadIdx.x; i < EA_Q * hd; i += blockDim.x) {
        int qi = i / hd, d = i % hd;
        qs[i] = qi < nq ? qkv[(size_t)(t0 + qi) * ld + h * hd + d] * scale : 0.f;
    }
    int kBegin = rowStart[t0], kEnd = rowEnd[t0 + nq - 1];
    int from[2], to[2];
    float o[2][ENC_MAX_HD / 32];
    float m[2], l[2];
#pragma unroll
    for (int a = 0; a < 2; a++) {
        int qi = warp * 2 + a;
        from[a] = qi < nq ? rowStart[t0 + qi] : 0;
        to[a] = qi < nq ? rowEnd[t0 + qi] : 0;
        m[a] = -INFINITY;
        l[a] = 0.f;
#pragma unroll
        for (int i = 0; i < ENC_MAX_HD / 32; i++) o[a][i] = 0.f;
    }
    const int ndl = (hd + 31) / 32;
    for (int kt = kBegin; kt < kEnd; kt += EA_KT) {
        __syncthreads();  // the previous tile's readers are done (and, the first time, qs is written)
        for (int c = threadIdx.x; c < EA_KT * hd; c += blockDim.x) {
            int r = c / hd, d = c % hd;
            int key = kt + r;
            bool ok = key < kEnd;
            const float* kv = qkv + (size_t)(ok ? key : 0) * ld + h * hd + d;
            ks[r * kld + d] = ok ? kv[dim] : 0.f;
            vs[r * hd + d] = ok ? kv[2 * dim] : 0.f;
        }
        __syncthreads();
#pragma unroll
        for (int a = 0; a < 2; a++) {
            int qi = warp * 2 + a;
            if (qi >= nq) continue;                              // warp-uniform
            if (kt >= to[a] || kt + EA_KT <= from[a]) continue;  // no key of this tile is in the row's input
            int key = kt + lane;
            bool seen = key >= from[a] && key < to[a];
            float sc = -INFINITY;
            if (seen) {
                const float* qq = qs + qi * hd;
                const float* kr = ks + lane * kld;
                float acc = 0.f;
                for (int d = 0; d < hd; d++) acc = fmaf(qq[d], kr[d], acc);
                sc = acc;
            }
            float mn = fmaxf(m[a], warp_max(sc));  // finite: at least one lane sees a key
            float corr = m[a] == -INFINITY ? 0.f : expf(m[a] - mn);
            float p = seen ? expf(sc - mn) : 0.f;
            l[a] = l[a] * corr + warp_sum(p);
#pragma unroll
            for (int i = 0; i < ENC_MAX_HD / 32; i++) o[a][i] *= corr;
            int j0 = max(from[a] - kt, 0), j1 = min(to[a] - kt, EA_KT);
            for (int j = j0; j < j1; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                for (int i = 0; i < ENC_MAX_HD / 32; i++) {
                    int d = lane + 32 * i;
                    if (i < ndl && d < hd) o[a][i] = fmaf(pj, vs[j * hd + d], o[a][i]);
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
        for (int i = 0; i < ENC_MAX_HD / 32; i++) {
            int d = lane + 32 * i;
            if (i < ndl && d < hd) out[(size_t)(t0 + qi) * dim + h * hd + d] = o[a][i] * inv;
        }
    }
}

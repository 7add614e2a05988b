// ---------------------------------------------------------------------------------------------
// Small-batch GEMM: tensor cores on weights decoded in shared memory (batched decode steps)
// ---------------------------------------------------------------------------------------------
//
// C[M][N] (+)= A[M][K] · W[N][K]^T for M <= 16 * MT rows (the sequences of a batched decode step, or a short chunk),
// W in its GGUF format, A fp16. The prefill GEMM needs W as fp16 first — a dequantization pass that writes and
// re-reads 2 bytes per weight — and its 64-row tiles of M would give a decode step only N / 128 blocks, too few to keep
// HBM busy. Here a block takes SG_N = 64 output features and a run of K, in chunks of SG_K = 256 columns:
//   - its threads decode the chunk's 64 x 256 weights straight from the file's bytes into shared memory as fp16; each
//     thread fetches all of its units of a chunk before decoding any, and the next chunk's while the tensor cores
//     multiply this one, so its loads are in flight together;
//   - the chunk's activations (16·MT rows x 256 columns, rows past M as zeros) are copied into shared memory by
//     cp.async, issued as soon as the previous chunk's products are done, so they arrive while the weights decode;
//   - mma.sync m16n8k16 takes the weights as its row operand (16 features x 16 of K: one ldmatrix.x4) and the tokens
//     as its column operand (n8 tiles, two per ldmatrix.x4): each of the 8 warps multiplies 16 features over one half
//     of the chunk's columns with all 16·MT tokens, 1 + MT ldmatrix per 2·MT mma; the halves are added at the end.
// Every weight byte is read once per step for all rows, by as many blocks as the GPU needs. (The WMMA kernel this
// replaced read the activations from global memory as fragments, four warps the same rows, and ran 1.1-2.8x slower on
// an H100: tests/gpu/gemm_bench.cu times both, tests/gpu/gemm_small_wmma.cuh keeps it.)
//
// When N alone gives too few blocks, K is split over gridDim.y blocks (a whole number of chunks each): each writes its
// partial tile to `partial`, and the last block of the tile to finish (counted in `counters`, which it resets to 0 for
// the next launch) adds the partials in split order and stores C. The result is deterministic and takes one launch.
//
// Up to three matrices of one format and K share a launch (Q, K, V; gate and up), as in matvec; each needs
// rows % SG_N == 0, and K % SG_K == 0 (the Java side checks: CudaKernels.smallGemmOk). Dynamic shared memory:
// SG_SMEM(MT) bytes (above 48 KB for MT = 2, 4: the Java side raises the function's limit).
#define SG_N 64
#define SG_K 256
#define SG_LD (SG_K + 8)
#define SG_THREADS 256
#define SG_SMEM(MT) ((SG_N + 16 * (MT)) * SG_LD * 2)

#define SG_PARAMS                                                                                             \
    const uint8_t *__restrict__ w0, const uint8_t *__restrict__ w1, const uint8_t *__restrict__ w2, int rows0, \
        int rows1, int rows2, long long rowBytes, int K, const __half *__restrict__ A, float *y0, float *y1,   \
        float *y2, int M, int accumulate, int chunksPerSplit, float *partial, int *counters
#define SG_ARGS w0, w1, w2, rows0, rows1, rows2, rowBytes, K, A, y0, y1, y2, M, accumulate, chunksPerSplit, partial, \
    counters

// A chunk's weights, shared by gemm_small and the MoE prompt kernels (moe_gemm.cuh): thread tid owns units
// g = tid + SG_THREADS * i of the chunk's SG_N rows, row g / UPR, unit g % UPR of that row's SG_K columns. Fetching
// issues all of a thread's loads into registers (raw) before any is used; storing decodes them into the
// [SG_N][SG_LD] fp16 buffer ws. base: the block's first weight row.
template <int TYPE, int PER>
__device__ __forceinline__ void sg_fetch_chunk(typename Fmt<TYPE>::Raw (&raw)[PER], const uint8_t* base,
                                               long long rowBytes, int c) {
    typedef Fmt<TYPE> F;
    constexpr int UPR = SG_K / F::UNIT;
#pragma unroll
    for (int i = 0; i < PER; i++) {
        int g = threadIdx.x + SG_THREADS * i;
        raw[i] = F::fetch(base + (size_t)(g / UPR) * rowBytes, c * UPR + g % UPR);
    }
}

template <int TYPE, int PER>
__device__ __forceinline__ void sg_store_chunk(const typename Fmt<TYPE>::Raw (&raw)[PER], int c, __half* ws) {
    typedef Fmt<TYPE> F;
    constexpr int UPR = SG_K / F::UNIT;
    static_assert(F::RUNLEN % 8 == 0, "runs of whole 16-byte stores");
#pragma unroll
    for (int i = 0; i < PER; i++) {
        int g = threadIdx.x + SG_THREADS * i;
        __half* dst = ws + (g / UPR) * SG_LD - c * SG_K;  // decode's offsets count from the row's start
        if constexpr (TYPE == T_F16) {
            // already fp16: the unit's 16 bytes as they are (what decoding and rounding back would give)
            *reinterpret_cast<uint4*>(dst + (c * UPR + g % UPR) * 8) = raw[i].v;
        } else {
            float v[F::UNIT];
            int off[F::RUNS];
            F::decode(raw[i], c * UPR + g % UPR, v, off);
            // runs are 8 or 16 elements at multiples of 8: whole 16-byte shared-memory stores
#pragma unroll
            for (int r = 0; r < F::RUNS; r++) {
#pragma unroll
                for (int j = 0; j < F::RUNLEN; j += 8) {
                    const float* e = v + r * F::RUNLEN + j;
                    __half2 h0 = __floats2half2_rn(e[0], e[1]), h1 = __floats2half2_rn(e[2], e[3]);
                    __half2 h2 = __floats2half2_rn(e[4], e[5]), h3 = __floats2half2_rn(e[6], e[7]);
                    uint4 packed;
                    packed.x = *reinterpret_cast<uint32_t*>(&h0);
                    packed.y = *reinterpret_cast<uint32_t*>(&h1);
                    packed.z = *reinterpret_cast<uint32_t*>(&h2);
                    packed.w = *reinterpret_cast<uint32_t*>(&h3);
                    *reinterpret_cast<uint4*>(dst + off[r] + j) = packed;
                }
            }
        }
    }
}

template <int TYPE, int MT>
__device__ __forceinline__ void gemm_small_body(SG_PARAMS) {
    typedef Fmt<TYPE> F;
    constexpr int UPR = SG_K / F::UNIT;           // units per row in a chunk
    constexpr int PER = SG_N * UPR / SG_THREADS;  // units per thread per chunk
    constexpr int ROWS = 16 * MT;                   // activation rows read (rows past M are zeros)
    constexpr int NT = 2 * MT;                      // n8 tiles of tokens
    static_assert(SG_N * UPR % SG_THREADS == 0, "whole units per thread");
    extern __shared__ __align__(128) __half sg_sm[];
    __half* ws = sg_sm;                   // [SG_N][SG_LD] the chunk's weights
    __half* as = sg_sm + SG_N * SG_LD;  // [ROWS][SG_LD] the chunk's activations
    __shared__ int amLast;
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wn = warp & 3, wk = warp >> 2;  // this warp's 16 features, and which half of a chunk's columns

    int tile = blockIdx.x;
    const uint8_t* w = w0;
    float* y = y0;
    int rows = rows0;
    if (tile >= rows0 / SG_N) {
        tile -= rows0 / SG_N;
        if (tile < rows1 / SG_N) {
            w = w1; y = y1; rows = rows1;
        } else {
            tile -= rows1 / SG_N;
            w = w2; y = y2; rows = rows2;
        }
    }
    const int n0 = tile * SG_N;
    const int chunks = K / SG_K;
    const int c0 = blockIdx.y * chunksPerSplit, c1 = min(chunks, c0 + chunksPerSplit);

    float acc[NT][4];
#pragma unroll
    for (int j = 0; j < NT; j++)
#pragma unroll
        for (int e = 0; e < 4; e++) acc[j][e] = 0.f;

    typename F::Raw raw[PER];
    const uint8_t* base = w + (size_t)n0 * rowBytes;
    auto fetch = [&](int c) { sg_fetch_chunk<TYPE, PER>(raw, base, rowBytes, c); };
    // the chunk's ROWS x 256 activations: 32 16-byte pieces a row
    auto loadA = [&](int c) {
#pragma unroll
        for (int i = 0; i < ROWS * 32 / SG_THREADS; i++) {
            int id = tid + i * SG_THREADS;
            int r = id >> 5, col = (id & 31) * 8;
            bool ok = r < M;
            cp_async16(as + r * SG_LD + col, A + (size_t)(ok ? r : 0) * K + (size_t)c * SG_K + col, ok);
        }
        cp_async_commit();
    };
    if (c0 < c1) {
        fetch(c0);
        loadA(c0);
    }
    // ldmatrix lanes: weights (row operand) rows lane % 16, columns (lane / 16) * 8; tokens (column operand) rows
    // (lane % 8) + (lane / 16) * 8, columns ((lane / 8) % 2) * 8: matrices tokens 0-7 / k 0-7, 0-7 / 8-15, 8-15 / 0-7,
    // 8-15 / 8-15 of a 16-token pair of n8 tiles
    const int wRow = wn * 16 + (lane & 15), wCol = (lane >> 4) * 8;
    const int aRow = (lane & 7) + (lane >> 4) * 8, aCol = ((lane >> 3) & 1) * 8;
    for (int c = c0; c < c1; c++) {
        sg_store_chunk<TYPE, PER>(raw, c, ws);
        cp_async_wait<0>();
        __syncthreads();  // the chunk's weights and activations are in shared memory
        if (c + 1 < c1) fetch(c + 1);  // in flight while the tensor cores work on this chunk
#pragma unroll
        for (int kk = wk * (SG_K / 2); kk < (wk + 1) * (SG_K / 2); kk += 16) {
            uint32_t a[4];
            ldsm_x4(a, ws + wRow * SG_LD + kk + wCol);
#pragma unroll
            for (int j = 0; j < NT; j += 2) {
                uint32_t b[4];
                ldsm_x4(b, as + (j * 8 + aRow) * SG_LD + kk + aCol);
                mma_16816(acc[j], a, b[0], b[1]);
                mma_16816(acc[j + 1], a, b[2], b[3]);
            }
        }
        __syncthreads();  // every warp is done with both buffers
        if (c + 1 < c1) loadA(c + 1);
    }

    // the two column halves' tiles [2][ROWS][SG_N] (token-major, as C is stored) through shared memory, added below;
    // accumulator e of n8 tile j: feature g (+8 for e >= 2), tokens 2t, 2t + 1 (g = lane / 4, t = lane % 4)
    float* st = reinterpret_cast<float*>(sg_sm);
    constexpr int HALF = ROWS * SG_N;
    static_assert(2 * HALF * sizeof(float) <= (SG_N + ROWS) * SG_LD * sizeof(__half), "both halves fit");
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int j = 0; j < NT; j++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int feature = wn * 16 + g + (e >= 2 ? 8 : 0), token = j * 8 + 2 * t + (e & 1);
            st[wk * HALF + token * SG_N + feature] = acc[j][e];
        }
    }
    __syncthreads();
    const int S = gridDim.y;
    if (S == 1) {
        for (int e = tid; e < M * SG_N; e += SG_THREADS) {
            float* dst = y + (size_t)(e / SG_N) * rows + n0 + e % SG_N;
            float v = st[e] + st[HALF + e];
            *dst = accumulate ? *dst + v : v;
        }
        return;
    }
    constexpr int TILE = ROWS * SG_N;
    float* mine = partial + ((size_t)blockIdx.x * S + blockIdx.y) * TILE;
    for (int e = tid; e < M * SG_N; e += SG_THREADS) mine[e] = st[e] + st[HALF + e];
    __threadfence();
    __syncthreads();
    if (tid == 0) amLast = atomicAdd(&counters[blockIdx.x], 1) == S - 1;
    __syncthreads();
    if (!amLast) return;
    __threadfence();
    const float* parts = partial + (size_t)blockIdx.x * S * TILE;
    for (int e = tid; e < M * SG_N; e += SG_THREADS) {
        float s = 0.f;
        for (int p = 0; p < S; p++) s += __ldcg(parts + (size_t)p * TILE + e);
        float* dst = y + (size_t)(e / SG_N) * rows + n0 + e % SG_N;
        *dst = accumulate ? *dst + s : s;
    }
    if (tid == 0) counters[blockIdx.x] = 0;
}

#define SG_INST(TYPE, NAME, MT)                                                                            \
    extern "C" __global__ void __launch_bounds__(SG_THREADS, 2) gemm_small_##NAME##_t##MT(SG_PARAMS) { \
        gemm_small_body<TYPE, MT>(SG_ARGS);                                                                 \
    }
#define SG_ALL(TYPE, NAME) SG_INST(TYPE, NAME, 1) SG_INST(TYPE, NAME, 2) SG_INST(TYPE, NAME, 4)

SG_ALL(T_F16, f16)
SG_ALL(T_BF16, bf16)
SG_ALL(T_Q8_0, q8_0)
SG_ALL(T_Q4_0, q4_0)
SG_ALL(T_Q4_1, q4_1)
SG_ALL(T_Q4_K, q4_k)
SG_ALL(T_Q5_K, q5_k)
SG_ALL(T_Q6_K, q6_k)
SG_ALL(T_Q5_0, q5_0)
SG_ALL(T_Q5_1, q5_1)
SG_ALL(T_Q2_K, q2_k)
SG_ALL(T_Q3_K, q3_k)
SG_ALL(T_IQ4_NL, iq4_nl)
SG_ALL(T_IQ4_XS, iq4_xs)

#undef SG_ALL
#undef SG_INST
#undef SG_ARGS
#undef SG_PARAMS

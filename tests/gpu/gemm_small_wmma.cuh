// The small-batch GEMM of waves 1-2 up to session 10 (WMMA fragments, activations read from global memory), kept for
// tests/gpu/gemm_bench.cu to time the production gemm_small.cuh against; instances gemm_small_wmma_<fmt>_t<MT> for
// F16, Q4_K and Q8_0 only. Its chunk fetch and decode loop is kept as written rather than calling gemm_small.cuh's
// sg_fetch_chunk / sg_store_chunk: that compiles to other register counts and would not time the kernel that ran
// before. Its original description:
//
// C[M][N] (+)= A[M][K] · W[N][K]^T for M <= 16 * MT rows (the sequences of a batched decode step, or a
// short chunk), W in its GGUF format, A fp16. The prefill GEMM (gemm_f16) needs W as fp16 first — a
// dequantization pass that writes and re-reads 2 bytes per weight — and its 64-row tiles of M give a
// decode step only N / 128 blocks, too few to keep HBM busy (24 for a 3B model's Q projection: the
// weights arrive at a fraction of the bandwidth). Here a block takes SGW_N output features and a run of K.
// Per chunk of SGW_K columns its threads decode the 64 × 256 weights straight from the file's bytes into
// shared memory as fp16 — each thread fetches all of its units of the chunk before decoding any, and the
// next chunk's before the tensor cores multiply this one, so its loads are in flight together — then each
// of the 8 warps multiplies 16 of the features over one half of the chunk's columns with A's 16·MT rows
// (wmma fragments read from global memory: a few KB that every block shares through L1/L2); the two
// halves' sums are added at the end. Every weight byte is read once per step for all rows, by as many
// blocks as the GPU needs. (With 4 warps each thread held twice the units in registers: F16 needed 254
// registers, two blocks per SM, and the step ran slower; 8 warps keep every format at <= 128.)
//
// When N alone gives too few blocks, K is split over gridDim.y blocks (a whole number of chunks each):
// each writes its partial tile to `partial`, and the last block of the tile to finish (counted in
// `counters`, which it resets to 0 for the next launch) adds the partials in split order and stores C.
// The result is deterministic and takes one launch.
//
// Up to three matrices of one format and K share a launch (Q, K, V; gate and up), as in matvec; each
// needs rows % SGW_N == 0, and K % SGW_K == 0 (the Java side checks: CudaKernels.smallGemmOk).
#define SGW_N 64
#define SGW_K 256
#define SGW_LD (SGW_K + 8)  // padded row (528 bytes): the fragment loads of consecutive rows hit different banks
#define SGW_THREADS 256  // 8 warps: (16 features) x (one half of each chunk's 256 columns)

#define SGW_PARAMS                                                                                              \
    const uint8_t *__restrict__ w0, const uint8_t *__restrict__ w1, const uint8_t *__restrict__ w2, int rows0, \
        int rows1, int rows2, long long rowBytes, int K, const __half *__restrict__ A, float *y0, float *y1,   \
        float *y2, int M, int accumulate, int chunksPerSplit, float *partial, int *counters
#define SGW_ARGS w0, w1, w2, rows0, rows1, rows2, rowBytes, K, A, y0, y1, y2, M, accumulate, chunksPerSplit, partial, \
    counters

template <int TYPE, int MT>
__device__ __forceinline__ void gemm_small_wmma_body(SGW_PARAMS) {
    using namespace nvcuda;
    typedef Fmt<TYPE> F;
    constexpr int UPR = SGW_K / F::UNIT;               // units per row in a chunk
    constexpr int PER = SGW_N * UPR / SGW_THREADS;      // units per thread per chunk
    static_assert(SGW_N * UPR % SGW_THREADS == 0, "whole units per thread");
    static_assert(F::RUNLEN % 8 == 0, "runs of whole 16-byte stores");
    __shared__ __align__(128) __half ws[SGW_N * SGW_LD];
    __shared__ int amLast;
    const int tid = threadIdx.x, warp = tid >> 5;
    const int wn = warp & 3, wk = warp >> 2;  // this warp's 16 features, and which half of a chunk's columns

    // this block's matrix and its SGW_N rows
    int tile = blockIdx.x;
    const uint8_t* w = w0;
    float* y = y0;
    int rows = rows0;
    if (tile >= rows0 / SGW_N) {
        tile -= rows0 / SGW_N;
        if (tile < rows1 / SGW_N) {
            w = w1; y = y1; rows = rows1;
        } else {
            tile -= rows1 / SGW_N;
            w = w2; y = y2; rows = rows2;
        }
    }
    const int n0 = tile * SGW_N;
    const int chunks = K / SGW_K;
    const int c0 = blockIdx.y * chunksPerSplit, c1 = min(chunks, c0 + chunksPerSplit);

    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[MT];
#pragma unroll
    for (int m = 0; m < MT; m++) wmma::fill_fragment(acc[m], 0.f);

    // thread tid owns units g = tid + SGW_THREADS * i of the chunk: row g / UPR, unit g % UPR of that row's run
    typename F::Raw raw[PER];
    auto fetch = [&](int c) {
#pragma unroll
        for (int i = 0; i < PER; i++) {
            int g = tid + SGW_THREADS * i;
            raw[i] = F::fetch(w + (size_t)(n0 + g / UPR) * rowBytes, c * UPR + g % UPR);
        }
    };
    if (c0 < c1) fetch(c0);
    for (int c = c0; c < c1; c++) {
#pragma unroll
        for (int i = 0; i < PER; i++) {
            int g = tid + SGW_THREADS * i;
            __half* dst = ws + (g / UPR) * SGW_LD - c * SGW_K;  // decode's offsets count from the row's start
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
        __syncthreads();
        if (c + 1 < c1) fetch(c + 1);  // in flight while the tensor cores work on this chunk
        const __half* a0 = A + (size_t)c * SGW_K;
#pragma unroll 4
        for (int kk = wk * (SGW_K / 2); kk < (wk + 1) * (SGW_K / 2); kk += 16) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b;
            wmma::load_matrix_sync(b, ws + wn * 16 * SGW_LD + kk, SGW_LD);
#pragma unroll
            for (int m = 0; m < MT; m++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a;
                wmma::load_matrix_sync(a, a0 + (size_t)m * 16 * K + kk, K);
                wmma::mma_sync(acc[m], a, b, acc[m]);
            }
        }
        __syncthreads();
    }

    // the two column halves' tiles [2][16·MT][SGW_N] through shared memory (the weight buffer is free now), added
    // below as st[e] + st[half + e]
    float* st = reinterpret_cast<float*>(ws);
    constexpr int HALF = MT * 16 * SGW_N;
    static_assert(2 * HALF * sizeof(float) <= SGW_N * SGW_LD * sizeof(__half), "both halves fit the weight buffer");
#pragma unroll
    for (int m = 0; m < MT; m++) {
        wmma::store_matrix_sync(st + wk * HALF + m * 16 * SGW_N + wn * 16, acc[m], SGW_N, wmma::mem_row_major);
    }
    __syncthreads();
    const int S = gridDim.y;
    if (S == 1) {
        for (int e = tid; e < M * SGW_N; e += SGW_THREADS) {
            float* dst = y + (size_t)(e / SGW_N) * rows + n0 + e % SGW_N;
            float v = st[e] + st[HALF + e];
            *dst = accumulate ? *dst + v : v;
        }
        return;
    }
    constexpr int TILE = MT * 16 * SGW_N;
    float* mine = partial + ((size_t)blockIdx.x * S + blockIdx.y) * TILE;
    for (int e = tid; e < M * SGW_N; e += SGW_THREADS) mine[e] = st[e] + st[HALF + e];
    __threadfence();  // this block's partial is visible device-wide before it is counted
    __syncthreads();
    if (tid == 0) amLast = atomicAdd(&counters[blockIdx.x], 1) == S - 1;
    __syncthreads();
    if (!amLast) return;
    __threadfence();
    const float* parts = partial + (size_t)blockIdx.x * S * TILE;
    for (int e = tid; e < M * SGW_N; e += SGW_THREADS) {
        float s = 0.f;
        for (int p = 0; p < S; p++) s += __ldcg(parts + (size_t)p * TILE + e);  // L2: other blocks wrote these
        float* dst = y + (size_t)(e / SGW_N) * rows + n0 + e % SGW_N;
        *dst = accumulate ? *dst + s : s;
    }
    if (tid == 0) counters[blockIdx.x] = 0;
}

#define SGW_INST(TYPE, NAME, MT)                                                                        \
    extern "C" __global__ void __launch_bounds__(SGW_THREADS) gemm_small_wmma_##NAME##_t##MT(SGW_PARAMS) { \
        gemm_small_wmma_body<TYPE, MT>(SGW_ARGS);                                                            \
    }
#define SGW_ALL(TYPE, NAME) SGW_INST(TYPE, NAME, 1) SGW_INST(TYPE, NAME, 2) SGW_INST(TYPE, NAME, 4)

SGW_ALL(T_F16, f16)
SGW_ALL(T_Q4_K, q4_k)
SGW_ALL(T_Q8_0, q8_0)

#undef SGW_ALL
#undef SGW_INST
#undef SGW_ARGS
#undef SGW_N
#undef SGW_K
#undef SGW_LD
#undef SGW_THREADS
#undef SGW_PARAMS

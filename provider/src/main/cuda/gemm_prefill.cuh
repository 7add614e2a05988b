// ---------------------------------------------------------------------------------------------
// Tensor-core GEMM for prefill: C[M][N] (+)= A[M][K] * B[N][K]^T, fp16 operands, fp32 accumulate
// ---------------------------------------------------------------------------------------------
//
// A holds the chunk's activations (M = tokens), B a weight matrix as fp16 (its rows are the output features, so
// B^T is B read column-major: mma's "col" operand, loaded by ldmatrix without transposition). mma.sync m16n8k16 with
// ldmatrix. Block tile BM (tokens) x 128 (features), K step 32, GTC_STAGES shared-memory stages filled by cp.async
// (the loads of GTC_STAGES - 1 tiles in flight while one multiplies). 8 warps as 2 (rows) x 4 (features): a warp
// computes (BM / 2) x 32 of C, i.e. BM / 32 m16 tiles x 4 n8 tiles, reading BM / 32 + 2 ldmatrix.x4 per 16 columns
// of K for 2 BM / 8 mma. (The WMMA kernel this replaced — 64 x 128 block tiles of 32 x 32 warp tiles, 4 fragment loads
// for 4 mma, two stages — reached about 100 TFLOP/s on an H100: tests/gpu/gemm_bench.cu times both.)
// Rows are padded to 40 halves (80 bytes), so the 8 row addresses of an ldmatrix fall in 8 different 16-byte bank
// groups. Two instances: gemm_f16_m128 where its tiles fill the GPU (the Java side picks, CudaKernels.gemm), else
// gemm_f16_m64 (twice the blocks); grid (row tiles, feature tiles). Requires N % 128 == 0 and K % 32 == 0; M is bounds-checked (rows past M load as
// zeros and are not stored). Dynamic shared memory: GTC_STAGES * (BM + 128) * 80 bytes (above 48 KB: the Java side
// raises the function's limit).
#ifndef GTC_STAGES
#define GTC_STAGES 4
#endif

__device__ __forceinline__ void cp_async16(void* smem, const void* gmem, bool pred) {
    unsigned s = (unsigned)__cvta_generic_to_shared(smem);
    int n = pred ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(n));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N)); }

#define GTC_BN 128
#define GTC_BK 32
#define GTC_LD 40
#define GTC_THREADS 256


__device__ __forceinline__ void ldsm_x4(uint32_t (&r)[4], const __half* p) {
    unsigned s = (unsigned)__cvta_generic_to_shared(p);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
                 : "r"(s));
}

__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ROWS_FAST: blockIdx.x walks the row tiles and blockIdx.y the feature tiles, so the blocks that run at the same time
// share their weight tiles (read from HBM once, then from L2) and each reads the chunk's activations, which are small
// enough to stay in L2 (512 tokens x 4096 x 2 bytes = 4 MB); with blockIdx.x over the features, a weight matrix larger
// than L2 is read from HBM once per row tile in flight.
template <int BM, int STAGES, bool ROWS_FAST = true>
__device__ __forceinline__ void gemm_tc_body(const __half* __restrict__ A, const __half* __restrict__ B, float* C, int M,
                                             int N, int K, int accumulate) {
    constexpr int MI = BM / 32;  // m16 tiles per warp
    constexpr int NI = 4;        // n8 tiles per warp
    constexpr int STAGE = (BM + GTC_BN) * GTC_LD;
    extern __shared__ __align__(16) __half gtc_sm[];  // STAGES * (BM + 128) * 40 halves
    const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    const int wm = warp >> 2, wn = warp & 3;
    const int m0 = (ROWS_FAST ? blockIdx.x : blockIdx.y) * BM, n0 = (ROWS_FAST ? blockIdx.y : blockIdx.x) * GTC_BN;

    float acc[MI][NI][4];
#pragma unroll
    for (int i = 0; i < MI; i++)
#pragma unroll
        for (int j = 0; j < NI; j++)
#pragma unroll
            for (int e = 0; e < 4; e++) acc[i][j][e] = 0.f;

    // tile kt into stage s: BM rows of A and 128 of B, 4 chunks of 8 halves each
    auto load = [&](int s, int k0) {
        __half* as = gtc_sm + s * STAGE;
        __half* bs = as + BM * GTC_LD;
#pragma unroll
        for (int i = 0; i < BM * 4 / GTC_THREADS; i++) {
            int id = tid + i * GTC_THREADS;
            int r = id >> 2, c = (id & 3) * 8;
            int gm = m0 + r;
            bool ok = gm < M;
            cp_async16(as + r * GTC_LD + c, A + (size_t)(ok ? gm : 0) * K + k0 + c, ok);
        }
#pragma unroll
        for (int i = 0; i < GTC_BN * 4 / GTC_THREADS; i++) {
            int id = tid + i * GTC_THREADS;
            int r = id >> 2, c = (id & 3) * 8;
            cp_async16(bs + r * GTC_LD + c, B + (size_t)(n0 + r) * K + k0 + c, true);
        }
    };

    const int nk = K / GTC_BK;
#pragma unroll
    for (int s = 0; s < STAGES - 1; s++) {
        if (s < nk) load(s, s * GTC_BK);
        cp_async_commit();
    }
    // ldmatrix lane addresses: A rows lane % 16 at column (lane / 16) * 8; B rows (lane % 8) + (lane / 16) * 8 at
    // column ((lane / 8) % 2) * 8 (matrices: features 0-7 / k 0-7, 0-7 / 8-15, 8-15 / 0-7, 8-15 / 8-15)
    const int aRow = wm * (BM / 2) + (lane & 15), aCol = (lane >> 4) * 8;
    const int bRow = wn * 32 + (lane & 7) + (lane >> 4) * 8, bCol = ((lane >> 3) & 1) * 8;
    for (int kt = 0; kt < nk; kt++) {
        cp_async_wait<STAGES - 2>();  // tile kt has landed (this thread's part) ...
        __syncthreads();              // ... everyone's, and every warp is done with tile kt - 1's stage
        int next = kt + STAGES - 1;
        if (next < nk) load(next % STAGES, next * GTC_BK);
        cp_async_commit();
        const __half* as = gtc_sm + (kt % STAGES) * STAGE;
        const __half* bs = as + BM * GTC_LD;
#pragma unroll
        for (int kk = 0; kk < GTC_BK; kk += 16) {
            uint32_t a[MI][4], b[NI][2];
#pragma unroll
            for (int i = 0; i < MI; i++) ldsm_x4(a[i], as + (aRow + i * 16) * GTC_LD + kk + aCol);
#pragma unroll
            for (int j = 0; j < NI; j += 2) {
                uint32_t r[4];
                ldsm_x4(r, bs + (bRow + j * 8) * GTC_LD + kk + bCol);
                b[j][0] = r[0];
                b[j][1] = r[1];
                b[j + 1][0] = r[2];
                b[j + 1][1] = r[3];
            }
#pragma unroll
            for (int i = 0; i < MI; i++)
#pragma unroll
                for (int j = 0; j < NI; j++) mma_16816(acc[i][j], a[i], b[j][0], b[j][1]);
        }
    }
    cp_async_wait<0>();

    // accumulator e of tile (i, j): row g (+8 for e >= 2), features 2t, 2t + 1 (g = lane / 4, t = lane % 4)
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int i = 0; i < MI; i++) {
#pragma unroll
        for (int h = 0; h < 2; h++) {
            int row = m0 + wm * (BM / 2) + i * 16 + g + 8 * h;
            if (row >= M) continue;
            float* dst = C + (size_t)row * N + n0 + wn * 32 + 2 * t;
#pragma unroll
            for (int j = 0; j < NI; j++) {
                float2 v = make_float2(acc[i][j][2 * h], acc[i][j][2 * h + 1]);
                float2* p = reinterpret_cast<float2*>(dst + j * 8);
                if (accumulate) {
                    float2 o = *p;
                    v.x += o.x;
                    v.y += o.y;
                }
                *p = v;
            }
        }
    }
}

extern "C" __global__ void __launch_bounds__(GTC_THREADS, 2)
    gemm_f16_m64(const __half* __restrict__ A, const __half* __restrict__ B, float* C, int M, int N, int K,
                 int accumulate) {
    gemm_tc_body<64, GTC_STAGES>(A, B, C, M, N, K, accumulate);
}
extern "C" __global__ void __launch_bounds__(GTC_THREADS, 2)
    gemm_f16_m128(const __half* __restrict__ A, const __half* __restrict__ B, float* C, int M, int N, int K,
                  int accumulate) {
    gemm_tc_body<128, GTC_STAGES>(A, B, C, M, N, K, accumulate);
}

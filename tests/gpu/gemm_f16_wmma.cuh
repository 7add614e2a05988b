// The prefill GEMM as it was up to session 10 (WMMA, 64 x 128 block tiles of 32 x 32 warp tiles, two cp.async stages):
// the baseline that gemm_bench.cu times the production gemm_f16_m64/m128 (gemm_prefill.cuh) against.
#define GBM 64
#define GBN 128
#define GBK 32
#define GLD 40

__global__ void __launch_bounds__(256) gemm_f16_wmma(const __half* __restrict__ A, const __half* __restrict__ B,
                                                           float* C, int M, int N, int K, int accumulate) {
    using namespace nvcuda;
    __shared__ __align__(128) __half smem[2 * (GBM + GBN) * GLD];
    int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;
    int wm = warp >> 2, wn = warp & 3;
    int m0 = blockIdx.y * GBM, n0 = blockIdx.x * GBN;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
    for (int i = 0; i < 2; i++)
#pragma unroll
        for (int j = 0; j < 2; j++) wmma::fill_fragment(acc[i][j], 0.f);

    auto load = [&](int stage, int k0) {
        __half* as = smem + stage * (GBM + GBN) * GLD;
        __half* bs = as + GBM * GLD;
        {
            int r = tid >> 2, c = (tid & 3) * 8;
            int gm = m0 + r;
            bool ok = gm < M;
            cp_async16(as + r * GLD + c, A + (size_t)(ok ? gm : 0) * K + k0 + c, ok);
        }
#pragma unroll
        for (int i = 0; i < 2; i++) {
            int id = tid + i * 256;
            int r = id >> 2, c = (id & 3) * 8;
            cp_async16(bs + r * GLD + c, B + (size_t)(n0 + r) * K + k0 + c, true);
        }
        cp_async_commit();
    };

    int nk = K / GBK;
    load(0, 0);
    for (int kt = 0; kt < nk; kt++) {
        if (kt + 1 < nk) {
            load((kt + 1) & 1, (kt + 1) * GBK);
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const __half* as = smem + (kt & 1) * (GBM + GBN) * GLD;
        const __half* bs = as + GBM * GLD;
#pragma unroll
        for (int kk = 0; kk < GBK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> a[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> b[2];
#pragma unroll
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(a[i], as + (wm * 32 + i * 16) * GLD + kk, GLD);
#pragma unroll
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(b[j], bs + (wn * 32 + j * 16) * GLD + kk, GLD);
#pragma unroll
            for (int i = 0; i < 2; i++)
#pragma unroll
                for (int j = 0; j < 2; j++) wmma::mma_sync(acc[i][j], a[i], b[j], acc[i][j]);
        }
        __syncthreads();
    }
    // Epilogue through a per-warp staging tile (the pipeline buffers are free now).
    float* stage = reinterpret_cast<float*>(smem) + warp * 256;
#pragma unroll
    for (int i = 0; i < 2; i++) {
#pragma unroll
        for (int j = 0; j < 2; j++) {
            wmma::store_matrix_sync(stage, acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                int r = e >> 4, c = e & 15;
                int gm = m0 + wm * 32 + i * 16 + r;
                int gn = n0 + wn * 32 + j * 16 + c;
                if (gm < M) {
                    float* dst = C + (size_t)gm * N + gn;
                    *dst = accumulate ? *dst + stage[e] : stage[e];
                }
            }
            __syncwarp();
        }
    }
}

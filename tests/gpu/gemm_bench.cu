// Prefill GEMM benchmark: the production gemm_f16_m64 / gemm_f16_m128 (provider/src/main/cuda/gemm_prefill.cuh; and
// their body at other stage counts) against the WMMA kernel they replaced (gemm_f16_wmma.cuh), on the projections of a
// prompt chunk of a 3B- and an 8B-shaped Llama:
// C[M][N] (+)= A[M][K] · B[N][K]^T, A the chunk's fp16 activations (M tokens), B a weight matrix as fp16.
//
//   nvcc -O3 -std=c++17 -arch=sm_90 -I provider/src/main/cuda -I tests/gpu -o gemm_bench tests/gpu/gemm_bench.cu
//   ./gemm_bench [M ...]          (default 512)
//   ./gemm_bench small            (the small GEMM only)
//
// Then the small GEMM of batched decode steps (gemm_small.cuh against the WMMA kernel it replaced, gemm_small_wmma.cuh;
// F16, Q4_K and Q8_0 weights of random bytes: speed does not depend on the values) on a 3B-shaped step's launches
// (Q/K/V in one launch, O, gate/up in one, down; 28 blocks; the 128256-row output head), at 1, 8, 16, 32 and 64 rows,
// K split as CudaKernels.smallGemmSplits does: what the step's matrix products cost at each batch size, and the
// largest difference between the two kernels' outputs relative to the output's largest magnitude.
//
// Per shape and kernel: µs per launch (median of 20 after warm-up), TFLOP/s, and the largest difference from the
// WMMA kernel's output relative to the output's largest magnitude (fp32 sums of the same fp16 products, in
// another order: ~1e-6 expected). Then a 3B and an 8B block's projections summed (q, k, v, o, gate, up, down).
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>
#include <string>

#include <cuda_fp16.h>
#include <mma.h>
#include <stdint.h>

#include "formats.cuh"
#include "gemm_prefill.cuh"
#include "gemm_small.cuh"
#include "gemm_small_wmma.cuh"
#include "gemm_f16_wmma.cuh"
#include "bench_common.cuh"

static size_t gemm_tc_smem(int bm, int stages) { return (size_t)stages * (bm + GTC_BN) * GTC_LD * 2; }

template <int BM, int STAGES, bool ROWS_FAST = true>
__global__ void __launch_bounds__(GTC_THREADS, 2)
    gemm_tc(const __half* __restrict__ A, const __half* __restrict__ B, float* C, int M, int N, int K, int accumulate) {
    gemm_tc_body<BM, STAGES, ROWS_FAST>(A, B, C, M, N, K, accumulate);
}


struct Kernel {
    const char* name;
    int bm, stages;  // 0: the WMMA kernel
    bool rowsFast;   // grid (row tiles, feature tiles), as in production; else (feature tiles, row tiles)
};

static const Kernel kernels[] = {
    {"wmma (before)", 0, 0, false},
    {"tc bm64 s3", 64, 3, true},
    {"tc bm64 s4", 64, 4, true},
    {"tc bm128 s3", 128, 3, true},
    {"tc bm128 s4", 128, 4, true},
    {"tc bm64 s4 n-fast", 64, 4, false},
    {"tc bm128 s4 n-fast", 128, 4, false},
};

static void launch(const Kernel& k, const __half* A, const __half* B, float* C, int M, int N, int K, cudaStream_t s) {
    if (k.bm == 0) {
        gemm_f16_wmma<<<dim3(N / 128, (M + 63) / 64), 256, 0, s>>>(A, B, C, M, N, K, 0);
        return;
    }
    size_t smem = gemm_tc_smem(k.bm, k.stages);
    dim3 grid(N / GTC_BN, (M + k.bm - 1) / k.bm);
    if (k.rowsFast) grid = dim3((M + k.bm - 1) / k.bm, N / GTC_BN);
    if (!k.rowsFast) {
        if (k.bm == 64) gemm_tc<64, 4, false><<<grid, GTC_THREADS, smem, s>>>(A, B, C, M, N, K, 0);
        if (k.bm == 128) gemm_tc<128, 4, false><<<grid, GTC_THREADS, smem, s>>>(A, B, C, M, N, K, 0);
        return;
    }
    if (k.bm == 64 && k.stages == 3) gemm_tc<64, 3><<<grid, GTC_THREADS, smem, s>>>(A, B, C, M, N, K, 0);
    if (k.bm == 64 && k.stages == 4) gemm_tc<64, 4><<<grid, GTC_THREADS, smem, s>>>(A, B, C, M, N, K, 0);
    if (k.bm == 128 && k.stages == 3) gemm_tc<128, 3><<<grid, GTC_THREADS, smem, s>>>(A, B, C, M, N, K, 0);
    if (k.bm == 128 && k.stages == 4) gemm_tc<128, 4><<<grid, GTC_THREADS, smem, s>>>(A, B, C, M, N, K, 0);
}


// ------------------------------------------------------------------ the small GEMM (batched decode)

// chunks of K per block, as CudaKernels.smallGemmSplits (SMALL_GEMM_TARGET_BLOCKS = 512) and gemmSmall choose them
static int smallChunksPerSplit(int tiles, int k) {
    int chunks = k / SG_K, target = 512;
    if (tiles >= target || chunks <= 1) return chunks;
    int splits = std::min(chunks, (target + tiles - 1) / tiles);
    int per = (chunks + splits - 1) / splits;
    return per;  // chunks per split
}

// gemm_small_<fmt>_t<MT>'s parameters (SG_PARAMS in gemm_small.cuh, which it undefines)
typedef void (*SgFn)(const uint8_t*, const uint8_t*, const uint8_t*, int, int, int, long long, int, const __half*, float*,
                     float*, float*, int, int, int, float*, int*);

static void smallGemmBench(cudaStream_t st) {
    struct Launch { const char* name; int rows0, rows1, rows2, k, count; };
    const Launch step[] = {{"q/k/v", 3072, 1024, 1024, 3072, 28}, {"o", 3072, 0, 0, 3072, 28},
                           {"gate/up", 8192, 8192, 0, 3072, 28}, {"down", 3072, 0, 0, 8192, 28},
                           {"head", 128256, 0, 0, 3072, 1}};
    struct Fm { const char* name; int blockBytes, blockElems; SgFn f[3]; SgFn f2[3]; };
    const Fm fms[] = {{"F16", 2, 1, {gemm_small_wmma_f16_t1, gemm_small_wmma_f16_t2, gemm_small_wmma_f16_t4},
                       {gemm_small_f16_t1, gemm_small_f16_t2, gemm_small_f16_t4}},
                      {"Q4_K", 144, 256, {gemm_small_wmma_q4_k_t1, gemm_small_wmma_q4_k_t2, gemm_small_wmma_q4_k_t4},
                       {gemm_small_q4_k_t1, gemm_small_q4_k_t2, gemm_small_q4_k_t4}},
                      {"Q8_0", 34, 32, {gemm_small_wmma_q8_0_t1, gemm_small_wmma_q8_0_t2, gemm_small_wmma_q8_0_t4},
                       {gemm_small_q8_0_t1, gemm_small_q8_0_t2, gemm_small_q8_0_t4}}};
    for (const Fm& fm : fms)
        for (int t = 0; t < 3; t++) {
            CK(cudaFuncSetAttribute(fm.f2[t], cudaFuncAttributeMaxDynamicSharedMemorySize, SG_SMEM(1 << t)));
            cudaFuncAttributes a1, a2;
            CK(cudaFuncGetAttributes(&a1, fm.f[t]));
            CK(cudaFuncGetAttributes(&a2, fm.f2[t]));
            printf("small GEMM %s t%d: wmma %d registers %d spill; mma %d registers %d spill, %d bytes dynamic shared\n",
                   fm.name, 1 << t, a1.numRegs, (int)a1.localSizeBytes, a2.numRegs, (int)a2.localSizeBytes,
                   SG_SMEM(1 << t));
        }
    const int ms[] = {1, 8, 16, 32, 64};
    const int nm = sizeof(ms) / sizeof(ms[0]);
    float *partial, *y0, *y1, *y2, *ref;
    int* counters;
    __half* A;
    CK(cudaMalloc(&partial, 2ull * 512 * 64 * 64 * 4));
    CK(cudaMalloc(&counters, 4096 * 4));
    CK(cudaMemset(counters, 0, 4096 * 4));
    CK(cudaMalloc(&A, 64ull * 8192 * 2));
    fill_half<<<256, 256>>>(A, 64ull * 8192, 5u, 2.f);
    CK(cudaMalloc(&y0, 64ull * 128256 * 4));
    CK(cudaMalloc(&ref, 64ull * 128256 * 4));
    CK(cudaMalloc(&y1, 64ull * 8192 * 4));
    CK(cudaMalloc(&y2, 64ull * 8192 * 4));
    printf("small GEMM (batched decode), 3B-shaped step: µs per launch, the WMMA kernel it replaced (wmma) and production (mma), and the "
           "step's launches summed\n");
    std::vector<float> a, b;
    for (const Fm& fm : fms) {
        std::vector<double> total(nm, 0.0), total2(nm, 0.0);
        for (const Launch& l : step) {
            long long rowBytes = (long long)l.k / fm.blockElems * fm.blockBytes;
            uint8_t* w[3] = {nullptr, nullptr, nullptr};
            int rows[3] = {l.rows0, l.rows1, l.rows2};
            for (int i = 0; i < 3; i++) {
                if (rows[i] == 0) continue;
                CK(cudaMalloc(&w[i], rows[i] * rowBytes + 16));
                fill_half<<<1024, 256>>>(reinterpret_cast<__half*>(w[i]), rows[i] * rowBytes / 2, 7u + i, 0.1f);
            }
            int tiles = (l.rows0 + l.rows1 + l.rows2) / SG_N;
            int per = smallChunksPerSplit(tiles, l.k);
            int chunks = l.k / SG_K, gy = (chunks + per - 1) / per;
            for (int mi = 0; mi < nm; mi++) {
                int m = ms[mi], t = m <= 16 ? 0 : m <= 32 ? 1 : 2;
                double us[2];
                for (int v = 0; v < 2; v++) {
                    SgFn f = v == 0 ? fm.f[t] : fm.f2[t];
                    size_t smem = v == 0 ? 0 : SG_SMEM(1 << t);
                    auto run = [&]() {
                        f<<<dim3(tiles, gy), SG_THREADS, smem, st>>>(w[0], w[1] ? w[1] : w[0], w[2] ? w[2] : w[0],
                                                                     l.rows0, l.rows1, l.rows2, rowBytes, l.k, A, y0,
                                                                     y1, y2, m, 0, per, partial, counters);
                    };
                    CK(cudaMemset(y0, 0xff, (size_t)m * l.rows0 * 4));  // NaN: an unwritten element shows
                    run();
                    CK(cudaStreamSynchronize(st));
                    CK(cudaGetLastError());
                    if (v == 0) CK(cudaMemcpy(ref, y0, (size_t)m * l.rows0 * 4, cudaMemcpyDeviceToDevice));
                    for (int i = 0; i < 3; i++) run();
                    us[v] = medianMicros(st, run);
                }
                a.resize((size_t)m * l.rows0);
                b.resize(a.size());
                CK(cudaMemcpy(a.data(), ref, a.size() * 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(b.data(), y0, b.size() * 4, cudaMemcpyDeviceToHost));
                double mx = 0, err = 0;
                for (float x : a) mx = std::max(mx, (double)fabsf(x));
                for (size_t i = 0; i < a.size(); i++) {
                    double d = fabs((double)b[i] - a[i]);
                    if (!(d == d)) d = 1e30;
                    err = std::max(err, d / mx);
                }
                total[mi] += us[0] * l.count;
                total2[mi] += us[1] * l.count;
                double bytes = (double)(l.rows0 + l.rows1 + l.rows2) * rowBytes;
                printf("  %-5s %-8s %6d rows x K %5d, %4d x %2d blocks, M=%2d: wmma %8.1f us %5.0f GB/s | mma %8.1f us %5.0f "
                       "GB/s  %.2fx  rel.diff %.1e\n",
                       fm.name, l.name, l.rows0 + l.rows1 + l.rows2, l.k, tiles, gy, m, us[0], bytes / us[0] / 1e3,
                       us[1], bytes / us[1] / 1e3, us[0] / us[1], err);
            }
            for (int i = 0; i < 3; i++)
                if (w[i]) CK(cudaFree(w[i]));
        }
        for (int mi = 0; mi < nm; mi++) {
            printf("%s step's small-GEMM launches at M=%2d: wmma %8.1f us, mma %8.1f us (%.2fx)\n", fm.name, ms[mi],
                   total[mi], total2[mi], total[mi] / total2[mi]);
        }
    }
    CK(cudaFree(partial));
    CK(cudaFree(counters));
    CK(cudaFree(A));
    CK(cudaFree(y0));
    CK(cudaFree(ref));
    CK(cudaFree(y1));
    CK(cudaFree(y2));
}

int main(int argc, char** argv) {
    std::vector<int> ms;
    for (int i = 1; i < argc; i++) ms.push_back(atoi(argv[i]));
    if (argc > 1 && std::string(argv[1]) == "small") {  // the small GEMM only
        cudaStream_t st;
        CK(cudaStreamCreate(&st));
        smallGemmBench(st);
        return 0;
    }
    if (ms.empty()) ms.push_back(512);
    CK(cudaFuncSetAttribute(gemm_tc<64, 3>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)gemm_tc_smem(64, 3)));
    CK(cudaFuncSetAttribute(gemm_tc<64, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)gemm_tc_smem(64, 4)));
    CK(cudaFuncSetAttribute(gemm_tc<128, 3>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)gemm_tc_smem(128, 3)));
    CK(cudaFuncSetAttribute(gemm_tc<128, 4>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)gemm_tc_smem(128, 4)));
    CK(cudaFuncSetAttribute(gemm_tc<64, 4, false>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)gemm_tc_smem(64, 4)));
    CK(cudaFuncSetAttribute(gemm_tc<128, 4, false>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                            (int)gemm_tc_smem(128, 4)));
    for (const Kernel& k : kernels) {
        if (k.bm == 0 || !k.rowsFast) continue;
        cudaFuncAttributes fa;
        if (k.bm == 64 && k.stages == 3) CK(cudaFuncGetAttributes(&fa, gemm_tc<64, 3>));
        if (k.bm == 64 && k.stages == 4) CK(cudaFuncGetAttributes(&fa, gemm_tc<64, 4>));
        if (k.bm == 128 && k.stages == 3) CK(cudaFuncGetAttributes(&fa, gemm_tc<128, 3>));
        if (k.bm == 128 && k.stages == 4) CK(cudaFuncGetAttributes(&fa, gemm_tc<128, 4>));
        printf("%-22s %3d registers, %zu bytes shared, %d spill bytes\n", k.name, fa.numRegs, gemm_tc_smem(k.bm, k.stages),
               (int)fa.localSizeBytes);
    }
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %d SMs\n\n", prop.name, prop.multiProcessorCount);

    struct Shape { const char* name; int n, k, count; };
    const Shape b3[] = {{"3B q/o", 3072, 3072, 2}, {"3B k/v", 1024, 3072, 2}, {"3B gate/up", 8192, 3072, 2},
                        {"3B down", 3072, 8192, 1}};
    const Shape b8[] = {{"8B q/o", 4096, 4096, 2}, {"8B k/v", 1024, 4096, 2}, {"8B gate/up", 14336, 4096, 2},
                        {"8B down", 4096, 14336, 1}};
    const int nk = sizeof(kernels) / sizeof(kernels[0]);
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    for (int M : ms) {
        for (int model = 0; model < 2; model++) {
            const Shape* shapes = model == 0 ? b3 : b8;
            std::vector<double> blockUs(nk, 0.0);
            for (int si = 0; si < 4; si++) {
                const Shape& sh = shapes[si];
                int N = sh.n, K = sh.k;
                __half *A, *B;
                float *C, *R;
                CK(cudaMalloc(&A, (size_t)M * K * 2));
                CK(cudaMalloc(&B, (size_t)N * K * 2));
                CK(cudaMalloc(&C, (size_t)M * N * 4));
                CK(cudaMalloc(&R, (size_t)M * N * 4));
                fill_half<<<1024, 256>>>(A, (size_t)M * K, 17u + si, 2.f);
                fill_half<<<1024, 256>>>(B, (size_t)N * K, 91u + si, 0.1f);
                CK(cudaDeviceSynchronize());
                std::vector<float> ref((size_t)M * N), out((size_t)M * N);
                for (int ki = 0; ki < nk; ki++) {
                    const Kernel& k = kernels[ki];
                    float* dst = ki == 0 ? R : C;
                    CK(cudaMemset(dst, 0xff, (size_t)M * N * 4));  // NaN: an unwritten element shows
                    launch(k, A, B, dst, M, N, K, st);
                    CK(cudaStreamSynchronize(st));
                    CK(cudaGetLastError());
                    double err = 0;
                    if (ki == 0) {
                        CK(cudaMemcpy(ref.data(), R, ref.size() * 4, cudaMemcpyDeviceToHost));
                    } else {
                        CK(cudaMemcpy(out.data(), C, out.size() * 4, cudaMemcpyDeviceToHost));
                        double mx = 0;
                        for (size_t i = 0; i < ref.size(); i++) mx = std::max(mx, (double)fabsf(ref[i]));
                        for (size_t i = 0; i < ref.size(); i++) {
                            double d = fabs((double)out[i] - ref[i]);
                            if (!(d == d)) d = 1e30;  // NaN
                            err = std::max(err, d / mx);
                        }
                    }
                    for (int w = 0; w < 3; w++) launch(k, A, B, dst, M, N, K, st);
                    double us = medianMicros(st, [&] { launch(k, A, B, dst, M, N, K, st); });
                    blockUs[ki] += us * sh.count;
                    printf("M=%4d %-11s N=%5d K=%5d  %-22s %8.1f us  %6.1f TFLOP/s  rel.diff %.2e\n", M, sh.name, N, K,
                           k.name, us, 2.0 * M * N * K / us / 1e6, err);
                }
                CK(cudaFree(A));
                CK(cudaFree(B));
                CK(cudaFree(C));
                CK(cudaFree(R));
            }
            for (int ki = 0; ki < nk; ki++) {
                printf("M=%4d %s block's projections  %-22s %8.1f us  (%.2fx the WMMA kernel)\n", M,
                       model == 0 ? "3B" : "8B", kernels[ki].name, blockUs[ki], blockUs[0] / blockUs[ki]);
            }
            printf("\n");
        }
    }
    smallGemmBench(st);
    return 0;
}

// Batched decode attention benchmark: attn_decode_batch (a block per query head and sequence) against
// attn_decode_gqa_d<DPL>_g<GMAX> (a block per key/value head and sequence, its G query heads together), both from
// provider/src/main/cuda/attention.cuh, on B sequences of a 3B-, an 8B- and a 0.5B-shaped Llama/Qwen at a few
// context lengths (every sequence a few positions apart, random fp16 caches and fp32 queries).
//
//   nvcc -O3 -std=c++17 -arch=sm_90 -I provider/src/main/cuda -I tests/gpu -o attn_bench tests/gpu/attn_bench.cu
//   ./attn_bench
//
// Per case: µs per launch (median of 20) with the splits the engine uses for a batch (max(1, splits / B), splits =
// 2 · SMs / heads), the grouped kernel also with 2, 4 and 8 splits, the KV bytes the step reads once, and the largest
// difference between the two kernels' outputs relative to the largest output magnitude.
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <algorithm>
#include <vector>

#include <cuda_fp16.h>
#include <stdint.h>

#include "attention.cuh"
#include "bench_common.cuh"

__global__ void fill_float_rand(float* p, size_t n, unsigned seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2246822519u ^ seed;
        h ^= h >> 15;
        h *= 0x85ebca6bu;
        h ^= h >> 13;
        p[i] = ((h & 0xffff) / 65535.f - 0.5f) * scale;
    }
}

typedef void (*GqaFn)(const float*, const unsigned long long*, const int*, const int*, float*, float*, int*, int, int,
                      float, float, int);

static GqaFn gqaFor(int hd, int g) {
    if (hd == 64) return g <= 4 ? attn_decode_gqa_d2_g4 : attn_decode_gqa_d2_g8;
    if (hd == 128) return g <= 4 ? attn_decode_gqa_d4_g4 : attn_decode_gqa_d4_g8;
    return g <= 4 ? attn_decode_gqa_d8_g4 : attn_decode_gqa_d8_g8;
}

int main() {
    cudaDeviceProp prop;
    CK(cudaGetDeviceProperties(&prop, 0));
    printf("%s, %d SMs\n", prop.name, prop.multiProcessorCount);
    struct Shape { const char* name; int heads, kvHeads, hd; };
    const Shape shapes[] = {{"3B (24/8 x 128)", 24, 8, 128}, {"8B (32/8 x 128)", 32, 8, 128},
                            {"0.5B (14/2 x 64)", 14, 2, 64}};
    const int batches[] = {16, 64};
    const int contexts[] = {32, 512, 2048};
    cudaStream_t st;
    CK(cudaStreamCreate(&st));
    for (const Shape& sh : shapes) {
        int g = sh.heads / sh.kvHeads, kvDim = sh.kvHeads * sh.hd;
        GqaFn gqa = gqaFor(sh.hd, g);
        int gmax = g <= 4 ? 4 : 8;
        size_t gqaSmem = 4 * ((size_t)gmax * sh.hd + 2 * ATT_WARPS * gmax + (size_t)ATT_WARPS * gmax * sh.hd);
        size_t oldSmem = 4 * ((size_t)sh.hd + 2 * ATT_WARPS + (size_t)ATT_WARPS * sh.hd);
        int engineSplits = std::min(32, std::max(1, 2 * prop.multiProcessorCount / sh.heads));
        for (int B : batches) {
            for (int ctx : contexts) {
                std::vector<unsigned long long> table(2 * B);
                std::vector<int> params(4 * B, 0), rings(B, 0);
                std::vector<__half*> bufs;
                double kvBytes = 0;
                for (int t = 0; t < B; t++) {
                    int pos = ctx - 1 - (t % 7);
                    params[4 * t] = pos;
                    for (int kv = 0; kv < 2; kv++) {
                        __half* c;
                        size_t n = (size_t)(pos + 1) * kvDim;
                        CK(cudaMalloc(&c, n * 2));
                        fill_half<<<256, 256>>>(c, n, 31u * t + kv, 2.f);
                        table[2 * t + kv] = (unsigned long long)c;
                        bufs.push_back(c);
                        kvBytes += n * 2.0;
                    }
                }
                unsigned long long* dTable;
                int *dParams, *dRings, *counters;
                float *q, *outOld, *outNew, *part;
                const int maxS = 8;
                CK(cudaMalloc(&dTable, table.size() * 8));
                CK(cudaMalloc(&dParams, params.size() * 4));
                CK(cudaMalloc(&dRings, rings.size() * 4));
                CK(cudaMalloc(&counters, (size_t)B * sh.heads * 4));
                CK(cudaMemset(counters, 0, (size_t)B * sh.heads * 4));
                CK(cudaMemcpy(dTable, table.data(), table.size() * 8, cudaMemcpyHostToDevice));
                CK(cudaMemcpy(dParams, params.data(), params.size() * 4, cudaMemcpyHostToDevice));
                CK(cudaMemcpy(dRings, rings.data(), rings.size() * 4, cudaMemcpyHostToDevice));
                size_t qn = (size_t)B * sh.heads * sh.hd;
                CK(cudaMalloc(&q, qn * 4));
                CK(cudaMalloc(&outOld, qn * 4));
                CK(cudaMalloc(&outNew, qn * 4));
                CK(cudaMalloc(&part, (size_t)B * sh.heads * std::max(maxS, engineSplits) * (sh.hd + 2) * 4));
                fill_float_rand<<<256, 256>>>(q, qn, 7u, 2.f);
                float scale = 1.f / sqrtf((float)sh.hd);
                int S = std::max(1, engineSplits / B);
                auto runOld = [&]() {
                    attn_decode_batch<<<dim3(sh.heads, S, B), 32 * ATT_WARPS, oldSmem, st>>>(
                        q, dTable, dRings, dParams, part, outOld, counters, sh.heads, sh.kvHeads, sh.hd, scale, 0.f, 0);
                };
                auto runNew = [&](int splits) {
                    gqa<<<dim3(sh.kvHeads, splits, B), 32 * ATT_WARPS, gqaSmem, st>>>(
                        q, dTable, dRings, dParams, part, outNew, counters, sh.heads, sh.kvHeads, scale, 0.f, 0);
                };
                CK(cudaMemset(outOld, 0xff, qn * 4));
                CK(cudaMemset(outNew, 0xff, qn * 4));
                runOld();
                runNew(S);
                CK(cudaStreamSynchronize(st));
                CK(cudaGetLastError());
                std::vector<float> a(qn), b(qn);
                CK(cudaMemcpy(a.data(), outOld, qn * 4, cudaMemcpyDeviceToHost));
                CK(cudaMemcpy(b.data(), outNew, qn * 4, cudaMemcpyDeviceToHost));
                double mx = 0, err = 0;
                for (float x : a) mx = std::max(mx, (double)fabsf(x));
                for (size_t i = 0; i < qn; i++) {
                    double d = fabs((double)b[i] - a[i]);
                    if (!(d == d)) d = 1e30;
                    err = std::max(err, d / mx);
                }
                for (int i = 0; i < 3; i++) { runOld(); runNew(S); }
                double usOld = medianMicros(st, runOld);
                double usNew = medianMicros(st, [&] { runNew(S); });
                printf("%-17s B=%2d ctx=%4d S=%d: per-head %8.1f us | grouped %8.1f us (%.2fx)", sh.name, B, ctx, S,
                       usOld, usNew, usOld / usNew);
                double best = usNew;
                int bestS = S;
                for (int s2 = 2; s2 <= maxS; s2 *= 2) {
                    double us = medianMicros(st, [&] { runNew(s2); });
                    printf(" S=%d %7.1f", s2, us);
                    if (us < best) { best = us; bestS = s2; }
                }
                // the splits' results must agree too (the last block's merge)
                CK(cudaMemset(outNew, 0xff, qn * 4));
                runNew(maxS);
                CK(cudaStreamSynchronize(st));
                CK(cudaMemcpy(b.data(), outNew, qn * 4, cudaMemcpyDeviceToHost));
                double errS = 0;
                for (size_t i = 0; i < qn; i++) {
                    double d = fabs((double)b[i] - a[i]);
                    if (!(d == d)) d = 1e30;
                    errS = std::max(errS, d / mx);
                }
                printf(" | best S=%d %.1f us, KV %.0f MB at %.0f GB/s | rel.diff %.1e (S=%d: %.1e)\n", bestS, best,
                       kvBytes / 1e6, kvBytes / best / 1e3, err, maxS, errS);
                for (__half* c : bufs) CK(cudaFree(c));
                CK(cudaFree(dTable));
                CK(cudaFree(dParams));
                CK(cudaFree(dRings));
                CK(cudaFree(counters));
                CK(cudaFree(q));
                CK(cudaFree(outOld));
                CK(cudaFree(outNew));
                CK(cudaFree(part));
            }
        }
    }
    return 0;
}

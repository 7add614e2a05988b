// What the kernel benchmarks under tests/gpu share: a CUDA runtime call checked (file, line, call, error; exit 1), and
// the median time of a few launches, and a random fp16 fill.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>

#include <cuda_fp16.h>

#define CK(x)                                                                               \
    do {                                                                                    \
        cudaError_t e_ = (x);                                                               \
        if (e_ != cudaSuccess) {                                                            \
            fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            exit(1);                                                                        \
        }                                                                                   \
    } while (0)

// Median µs of 20 timed runs of run() on stream st (after whatever warm-up the caller did), by CUDA events.
template <class Run>
static double medianMicros(cudaStream_t st, Run run) {
    static cudaEvent_t e0 = nullptr, e1 = nullptr;
    if (!e0) {
        CK(cudaEventCreate(&e0));
        CK(cudaEventCreate(&e1));
    }
    std::vector<float> t;
    for (int r = 0; r < 20; r++) {
        CK(cudaEventRecord(e0, st));
        run();
        CK(cudaEventRecord(e1, st));
        CK(cudaEventSynchronize(e1));
        float ms;
        CK(cudaEventElapsedTime(&ms, e0, e1));
        t.push_back(ms * 1000.f);
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

// p[i] = a pseudo-random half in [-scale/2, scale/2] from i and seed (a hash: no state, any grid).
__global__ void fill_half(__half* p, size_t n, unsigned seed, float scale) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        unsigned h = (unsigned)i * 2654435761u ^ seed;
        h ^= h >> 13;
        h *= 0x5bd1e995u;
        h ^= h >> 15;
        p[i] = __float2half(((h & 0xffff) / 65535.f - 0.5f) * scale);
    }
}

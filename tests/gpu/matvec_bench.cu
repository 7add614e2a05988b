// Matrix-vector kernel benchmark: times the production decode kernels (provider/src/main/cuda, included whole)
// on the projections of a 3B-shaped Llama (hidden 3072, FFN 8192, 8 KV heads of 128, 28 blocks, vocabulary
// 128256), the way a batch-1 decode step runs them: per block Q/K/V (one launch, fused RMSNorm), the attention
// output (residual add), gate/up (SwiGLU, fused RMSNorm) and down (residual add), 28 blocks of distinct weights
// in one CUDA graph, so that every byte comes from HBM as it does in a real step (the model is far larger than L2).
//
//   nvcc -O3 -std=c++17 -arch=sm_90 -I provider/src/main/cuda -o matvec_bench tests/gpu/matvec_bench.cu
//   ./matvec_bench [--out FILE] [--formats q4_k/q6_k,f16/f16,...] [--x8 1] [--tokens N]
//       FILE: every output vector, to compare two builds (same seed, same inputs); formats: which pairs (all by default);
//       --x8 1: formats with 8-bit-activation kernels (matvec_x8.cuh) run those, each after its quantize_x8 launch
//       (timed with it), and a line per pair gives their normwise error against the float kernels on layer 0;
//       --tokens N (1 to 8): a step of N tokens (N sequences decoding together, or a draft's verification): the float
//       kernels in launches of 8, 4, 2 and 1 tokens as CudaBlockKernels.matvecs splits them, the 8-bit ones in launches
//       of up to 4 tokens as CudaBlockKernels.matvecX8 does (sources with multi-token 8-bit kernels; with others, N
//       single-token launches).
//
// Prints, per format pair (attention + gate/up format / down format): µs per step of matvecs, the weight bytes
// read, and GB/s; then each kernel kind alone (28 launches of it in a graph, µs per launch and GB/s).
// Weights are random bytes with valid fp16 scales (the kernels' speed does not depend on the values).
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "offload4j.cu"
#include "bench_common.cuh"

// Sources from before the paired kernels (to time an earlier build) know neither setting.
#ifndef MV_PAIRED
#define MV_PAIRED(NT, MODE) 0
#endif
#ifndef MV_PAIRS
#define MV_PAIRS 0
#endif
#ifndef MV_MIN_BLOCKS
#define MV_MIN_BLOCKS 1
#endif



typedef void (*MvFn)(MV_PARAMS);
#define X8_MODES(NAME, NT) {matvec_x8_##NAME##_n##NT##_m0, matvec_x8_##NAME##_n##NT##_m1, matvec_x8_##NAME##_n##NT##_m2}
#ifdef MVX8_MAX_TOKENS  // multi-token 8-bit kernels: x8[t - 1] takes t tokens
typedef void (*MvX8Fn)(MVX8_PARAMS);
#define X8(NAME) {X8_MODES(NAME, 1), X8_MODES(NAME, 2), X8_MODES(NAME, 3), X8_MODES(NAME, 4)}
#define X8_TOKENS MVX8_MAX_TOKENS
#elif defined(MVX8_PARAMS)  // single-token 8-bit kernels only
typedef void (*MvX8Fn)(MVX8_PARAMS);
#define X8(NAME) {{matvec_x8_##NAME##_m0, matvec_x8_##NAME##_m1, matvec_x8_##NAME##_m2}}
#define X8_TOKENS 1
#else
typedef void* MvX8Fn;  // sources from before the 8-bit-activation kernels
#define X8(NAME) {{nullptr, nullptr, nullptr}}
#define X8_TOKENS 1
#endif
#define NO_X8 {{nullptr, nullptr, nullptr}}
#define MV_NT(NAME, NT) {matvec_##NAME##_n##NT##_m0, matvec_##NAME##_n##NT##_m1, matvec_##NAME##_n##NT##_m2}

struct Format {
    const char* name;
    int blockBytes, blockElems;
    int halfOffsets[2];  // fp16 scale fields of a block, -1 when absent; F16/BF16: every element
    MvFn m[4][3];        // the float kernels for 1, 2, 4 and 8 tokens
    MvX8Fn x8[4][3];     // the 8-bit-activation kernels for 1..X8_TOKENS tokens, where the format has them
};

#define FMT(NAME, BB, BE, H0, H1, X) {#NAME, BB, BE, {H0, H1}, {MV_NT(NAME, 1), MV_NT(NAME, 2), MV_NT(NAME, 4), MV_NT(NAME, 8)}, X}

static Format formats[] = {
    FMT(f16, 2, 1, -2, -1, NO_X8),    FMT(bf16, 2, 1, -3, -1, NO_X8),      FMT(q8_0, 34, 32, 0, -1, X8(q8_0)),
    FMT(q4_0, 18, 32, 0, -1, X8(q4_0)), FMT(q4_1, 20, 32, 0, 2, X8(q4_1)), FMT(q5_0, 22, 32, 0, -1, NO_X8),
    FMT(q5_1, 24, 32, 0, 2, NO_X8),   FMT(q4_k, 144, 256, 0, 2, X8(q4_k)), FMT(q5_k, 176, 256, 0, 2, X8(q5_k)),
    FMT(q6_k, 210, 256, 208, -1, X8(q6_k)), FMT(q2_k, 84, 256, 80, 82, NO_X8), FMT(q3_k, 110, 256, 108, -1, NO_X8),
    FMT(iq4_nl, 18, 32, 0, -1, NO_X8), FMT(iq4_xs, 136, 256, 0, -1, NO_X8),
};
static bool useX8 = false;
static int tokens = 1;  // --tokens: the step's token count

static Format* find(const char* n) {
    for (auto& f : formats)
        if (!strcmp(f.name, n)) return &f;
    fprintf(stderr, "unknown format %s\n", n);
    exit(1);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next32() {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}
static float uni() { return (next32() & 0xFFFFFF) / 16777216.0f; }
static uint16_t f2h(float f) { return __half_as_ushort(__float2half(f)); }

// A pool of random but valid blocks per format (64 MiB and at least one matrix): each matrix copies a slice of it
// from a random block, so that the 28 blocks' weights differ without generating gigabytes on the host.
struct Pool {
    const Format* format;
    std::vector<uint8_t> bytes;
};
static std::vector<Pool> pools;

static std::vector<uint8_t>& fillPool(const Format& f, size_t minBytes) {
    size_t bytes = std::max(minBytes, (size_t)64 << 20);
    bytes -= bytes % f.blockBytes;
    for (auto& p : pools)
        if (p.format == &f && p.bytes.size() >= bytes) return p.bytes;
    pools.push_back({&f, {}});
    std::vector<uint8_t>& pool = pools.back().bytes;
    pool.assign(bytes, 0);
    if (f.halfOffsets[0] == -2 || f.halfOffsets[0] == -3) {
        uint16_t* p = (uint16_t*)pool.data();
        for (size_t i = 0; i < bytes / 2; i++) {
            float v = (uni() * 2 - 1) * 0.05f;
            uint32_t b;
            memcpy(&b, &v, 4);
            p[i] = f.halfOffsets[0] == -2 ? f2h(v) : (uint16_t)(b >> 16);
        }
    } else {
        for (size_t i = 0; i + 4 <= bytes; i += 4) {
            uint32_t v = next32();
            memcpy(&pool[i], &v, 4);
        }
        for (size_t b = 0; b < bytes; b += f.blockBytes)
            for (int k = 0; k < 2; k++)
                if (f.halfOffsets[k] >= 0) {
                    uint16_t s = f2h(0.001f + 0.01f * uni());
                    memcpy(&pool[b + f.halfOffsets[k]], &s, 2);
                }
    }
    return pool;
}

// A device matrix of `rows` x `cols` in format f.
static uint8_t* matrix(const Format& f, int rows, int cols, size_t& bytes) {
    size_t rowBytes = (size_t)cols / f.blockElems * f.blockBytes;
    bytes = rowBytes * rows;
    std::vector<uint8_t>& pool = fillPool(f, 2 * bytes);
    size_t blocks = (pool.size() - bytes) / f.blockBytes;
    size_t at = (next32() % (blocks + 1)) * f.blockBytes;
    uint8_t* d;
    CK(cudaMalloc(&d, bytes));
    CK(cudaMemcpy(d, pool.data() + at, bytes, cudaMemcpyHostToDevice));
    return d;
}

static float* vec(int n, bool random) {
    std::vector<float> h(n);
    for (auto& v : h) v = random ? uni() * 2 - 1 : 0.f;
    float* d;
    CK(cudaMalloc(&d, n * sizeof(float)));
    CK(cudaMemcpy(d, h.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    return d;
}

static const int DIM = 3072, FFN = 8192, KV = 1024, LAYERS = 28;

struct Layer {
    uint8_t *q, *k, *v, *o, *g, *u, *d;
};

struct Kind {  // one projection of a block
    const char* name;
    int mode, rows0, rows1, rows2, cols;
    bool norm;
};

static const Kind kinds[] = {
    {"qkv (norm)", MV_STORE, DIM, KV, KV, DIM, true},
    {"attn out (add)", MV_ADD, DIM, 0, 0, DIM, false},
    {"gate/up (norm, swiglu)", MV_SWIGLU, FFN, FFN, 0, DIM, true},
    {"down (add)", MV_ADD, DIM, 0, 0, FFN, false},
};

struct Buffers {
    float *x, *normW, *q, *k, *v, *h, *y;
    int8_t* xq;  // the quantized input of an 8-bit-activation launch (FFN values at most), its scales and sums
    float *xd, *xs;
};

// One projection kind of one block for the step's `tokens` tokens (inputs and outputs token-major, as in the engine).
static void launch(const Format& fa, const Format& fd, const Layer& L, int kind, const Buffers& b, cudaStream_t s) {
    const Kind& k = kinds[kind];
    const Format& f = kind == 3 ? fd : fa;
    size_t rowBytes = (size_t)k.cols / f.blockElems * f.blockBytes;
    const uint8_t *w0, *w1 = nullptr, *w2 = nullptr;
    float *y0, *y1 = nullptr, *y2 = nullptr;
    const float* x = b.x;
    switch (kind) {
        case 0: w0 = L.q; w1 = L.k; w2 = L.v; y0 = b.q; y1 = b.k; y2 = b.v; break;
        case 1: w0 = L.o; y0 = b.y; x = b.q; break;
        case 2: w0 = L.g; w1 = L.u; y0 = b.h; break;
        default: w0 = L.d; y0 = b.y; x = b.h; break;
    }
    const float* normW = k.norm ? b.normW : nullptr;
    int rows1 = k.mode == MV_SWIGLU ? 0 : k.rows1;
    // warps: one per row, or (MV_PAIRED) one per pair of rows of a matrix; as CudaKernels.matvecWarps
    auto gridFor = [&](bool paired) {
        int warps = k.mode == MV_SWIGLU ? k.rows0
                  : paired ? (k.rows0 + 1) / 2 + (k.rows1 + 1) / 2 + (k.rows2 + 1) / 2 : k.rows0 + k.rows1 + k.rows2;
        return (warps + MV_WARPS - 1) / MV_WARPS;
    };
    // token t's input at in + t * cols, its outputs at out + t * rows (the rows of that output)
    int inCols = k.cols, out0 = k.mode == MV_SWIGLU ? k.rows0 : k.rows0, out1 = k.rows1, out2 = k.rows2;
#ifdef MVX8_PARAMS
    if (useX8 && f.x8[0][k.mode]) {
        quantize_x8<<<dim3((k.cols + 255) / 256, tokens), 256, 0, s>>>(x, normW, 1e-5f, k.cols, b.xq, b.xd, b.xs);
        int grid = gridFor(true);
        for (int t0 = 0; t0 < tokens;) {
            int nt = std::min(tokens - t0, X8_TOKENS);
            f.x8[nt - 1][k.mode]<<<grid, 32 * MV_WARPS, 0, s>>>(
                w0, w1, w2, k.rows0, rows1, k.rows2, rowBytes, k.cols, b.xq + (size_t)t0 * inCols,
                b.xd + (size_t)t0 * inCols / 32, b.xs + (size_t)t0 * inCols / 16, y0 + (size_t)t0 * out0,
                y1 ? y1 + (size_t)t0 * out1 : nullptr, y2 ? y2 + (size_t)t0 * out2 : nullptr);
            t0 += nt;
        }
        return;
    }
#endif
    for (int t0 = 0; t0 < tokens;) {
        int left = tokens - t0, nt = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
        f.m[nt == 8 ? 3 : nt == 4 ? 2 : nt - 1][k.mode]<<<gridFor(MV_PAIRED(nt, k.mode)), 32 * MV_WARPS, 0, s>>>(
            w0, w1, w2, k.rows0, rows1, k.rows2, rowBytes, k.cols, x + (size_t)t0 * inCols, y0 + (size_t)t0 * out0,
            y1 ? y1 + (size_t)t0 * out1 : nullptr, y2 ? y2 + (size_t)t0 * out2 : nullptr, nt, normW, 1e-5f);
        t0 += nt;
    }
}

static size_t kindBytes(const Format& fa, const Format& fd, int kind) {
    const Kind& k = kinds[kind];
    const Format& f = kind == 3 ? fd : fa;
    size_t rowBytes = (size_t)k.cols / f.blockElems * f.blockBytes;
    return rowBytes * (k.rows0 + k.rows1 + k.rows2);
}

// Median over reps of one graph replay, in µs.
static double timeGraph(cudaGraphExec_t g, cudaStream_t s, int reps) {
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    for (int i = 0; i < 3; i++) CK(cudaGraphLaunch(g, s));
    std::vector<float> t;
    for (int i = 0; i < reps; i++) {
        CK(cudaEventRecord(a, s));
        CK(cudaGraphLaunch(g, s));
        CK(cudaEventRecord(b, s));
        CK(cudaEventSynchronize(b));
        float ms;
        CK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms);
    }
    std::sort(t.begin(), t.end());
    CK(cudaEventDestroy(a));
    CK(cudaEventDestroy(b));
    return 1000.0 * t[t.size() / 2];
}

template <typename F>
static cudaGraphExec_t capture(cudaStream_t s, F body) {
    cudaGraph_t g;
    cudaGraphExec_t e;
    CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
    body();
    CK(cudaStreamEndCapture(s, &g));
    CK(cudaGraphInstantiate(&e, g, 0));
    CK(cudaGraphDestroy(g));
    return e;
}

int main(int argc, char** argv) {
    const char* outPath = nullptr;
    std::string only;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--out")) outPath = argv[i + 1];
        else if (!strcmp(argv[i], "--formats")) only = "," + std::string(argv[i + 1]) + ",";
        else if (!strcmp(argv[i], "--x8")) useX8 = atoi(argv[i + 1]) != 0;
        else if (!strcmp(argv[i], "--tokens")) tokens = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (tokens < 1 || tokens > 8) {
        fprintf(stderr, "--tokens takes 1 to 8\n");
        return 2;
    }
    FILE* out = outPath ? fopen(outPath, "wb") : nullptr;
    cudaDeviceProp p;
    CK(cudaGetDeviceProperties(&p, 0));
    printf("%s, %d SMs; MV_PAIRS %d, MV_MIN_BLOCKS %d; %d token(s) a step, %s activations (8-bit launches of up to %d)\n\n",
           p.name, p.multiProcessorCount, MV_PAIRS, MV_MIN_BLOCKS, tokens, useX8 ? "8-bit" : "float", X8_TOKENS);
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    const char* pairs[][2] = {{"q4_k", "q6_k"}, {"q8_0", "q8_0"}, {"q4_0", "q4_0"}, {"q5_k", "q6_k"},
                              {"q6_k", "q6_k"}, {"f16", "f16"},   {"bf16", "bf16"}, {"q4_1", "q4_1"},
                              {"q5_0", "q5_0"}, {"q5_1", "q5_1"}, {"q2_k", "q3_k"}, {"iq4_nl", "iq4_nl"},
                              {"iq4_xs", "iq4_xs"}};
    printf("| formats (block / down) | matvecs of one step, us | weight MB | GB/s | qkv us | attn out us | gate/up us | down us |\n");
    printf("|---|---|---|---|---|---|---|---|\n");
    for (auto& pr : pairs) {
        if (!only.empty() && only.find("," + std::string(pr[0]) + "/" + pr[1] + ",") == std::string::npos) continue;
        const Format& fa = *find(pr[0]);
        const Format& fd = *find(pr[1]);
        rng = 0x9E3779B97F4A7C15ull;
        pools.clear();
        std::vector<Layer> layers(LAYERS);
        size_t total = 0, bytes;
        for (auto& L : layers) {
            L.q = matrix(fa, DIM, DIM, bytes); total += bytes;
            L.k = matrix(fa, KV, DIM, bytes); total += bytes;
            L.v = matrix(fa, KV, DIM, bytes); total += bytes;
            L.o = matrix(fa, DIM, DIM, bytes); total += bytes;
            L.g = matrix(fa, FFN, DIM, bytes); total += bytes;
            L.u = matrix(fa, FFN, DIM, bytes); total += bytes;
            L.d = matrix(fd, DIM, FFN, bytes); total += bytes;
        }
        const int T = tokens;
        Buffers b{vec(T * DIM, true), vec(DIM, true), vec(T * DIM, false), vec(T * KV, false), vec(T * KV, false),
                  vec(T * FFN, false), vec(T * DIM, false), nullptr, vec(T * FFN / 32, false), vec(T * FFN / 16, false)};
        CK(cudaMalloc(&b.xq, T * FFN));
        if (useX8) {
            // each kind on layer 0 from the same inputs, float kernels and then the 8-bit ones: normwise error
            // max|x8 - float| / max|float| of each kind's outputs (ADD kinds into zeroed outputs)
            double err[4];
            for (int kind = 0; kind < 4; kind++) {
                std::vector<float> got[2], hh(T * FFN);
                for (auto& v : hh) v = uni() * 2 - 1;
                for (int pass = 0; pass < 2; pass++) {
                    useX8 = pass == 1;
                    CK(cudaMemset(b.y, 0, T * DIM * 4));
                    CK(cudaMemset(b.h, 0, T * FFN * 4));
                    if (kind == 1) CK(cudaMemcpy(b.q, b.x, T * DIM * 4, cudaMemcpyDeviceToDevice));
                    if (kind == 3) CK(cudaMemcpy(b.h, hh.data(), T * FFN * 4, cudaMemcpyHostToDevice));
                    launch(fa, fd, layers[0], kind, b, s);
                    CK(cudaStreamSynchronize(s));
                    float* o = kind == 0 ? b.q : kind == 2 ? b.h : b.y;
                    int n = T * (kind == 2 ? FFN : DIM);
                    got[pass].resize(n);
                    CK(cudaMemcpy(got[pass].data(), o, n * 4, cudaMemcpyDeviceToHost));
                }
                double m = 0, e = 0;
                for (size_t i = 0; i < got[0].size(); i++) {
                    m = std::max(m, (double)fabsf(got[0][i]));
                    e = std::max(e, (double)fabsf(got[1][i] - got[0][i]));
                }
                err[kind] = m > 0 ? e / m : e;
            }
            useX8 = true;
            printf("x8 vs float, %s / %s: normwise error qkv %.2e, attn out %.2e, gate/up %.2e, down %.2e\n", fa.name,
                   fd.name, err[0], err[1], err[2], err[3]);
        }
        // correctness record: one pass over layer 0 from fixed inputs, every output written out
        if (out) {
            for (int kind = 0; kind < 4; kind++) launch(fa, fd, layers[0], kind, b, s);
            CK(cudaStreamSynchronize(s));
            for (float* v : {b.q, b.k, b.v, b.h, b.y}) {
                int n = T * (v == b.h ? FFN : (v == b.k || v == b.v ? KV : DIM));
                std::vector<float> h(n);
                CK(cudaMemcpy(h.data(), v, n * 4, cudaMemcpyDeviceToHost));
                fwrite(h.data(), 4, n, out);
            }
        }
        cudaGraphExec_t step = capture(s, [&] {
            for (auto& L : layers)
                for (int kind = 0; kind < 4; kind++) launch(fa, fd, L, kind, b, s);
        });
        double us = timeGraph(step, s, 40);
        double per[4];
        for (int kind = 0; kind < 4; kind++) {
            cudaGraphExec_t g = capture(s, [&] {
                for (auto& L : layers) launch(fa, fd, L, kind, b, s);
            });
            per[kind] = timeGraph(g, s, 40) / LAYERS;
            CK(cudaGraphExecDestroy(g));
        }
        printf("| %s / %s | %.1f | %.1f | %.0f |", fa.name, fd.name, us, total / 1e6, total / us / 1e3);
        for (int kind = 0; kind < 4; kind++)
            printf(" %.2f (%.0f GB/s) |", per[kind], kindBytes(fa, fd, kind) / per[kind] / 1e3);
        printf("\n");
        fflush(stdout);
        CK(cudaGraphExecDestroy(step));
        for (auto& L : layers)
            for (uint8_t* w : {L.q, L.k, L.v, L.o, L.g, L.u, L.d}) CK(cudaFree(w));
        for (float* v : {b.x, b.normW, b.q, b.k, b.v, b.h, b.y, b.xd, b.xs}) CK(cudaFree(v));
        CK(cudaFree(b.xq));
    }
    if (out) fclose(out);
    return 0;
}

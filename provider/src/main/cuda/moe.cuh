// Mixture-of-experts kernels (included at the end of offload4j.cu): the router's top-k on the device, and the
// chosen experts' matrix-vector products read straight from the block's expert matrices, so that a decode step
// needs no host round trip (and stays capturable as a CUDA graph).
//
// A sparse block's experts lie in its unit one after another (gate_e, up_e, down_e, each 256-byte aligned, all
// experts the same size), so expert e's gate is gateBase + e * stride, and likewise up and down.
#pragma once

// One warp per row: softmax over the E router logits (in place), the k largest (ties: the lower index), their
// probabilities renormalised to sum 1 when `normalize`, times `scale`. chosen/weights are [rows][k].
extern "C" __global__ void moe_topk(float* logits, int* chosen, float* weights, int experts, int k, int normalize,
                                    float scale) {
    const int lane = threadIdx.x;
    float* l = logits + (size_t)blockIdx.x * experts;
    float m = -INFINITY;
    for (int e = lane; e < experts; e += 32) m = fmaxf(m, l[e]);
    m = warp_max(m);
    float s = 0.f;
    for (int e = lane; e < experts; e += 32) {
        float p = expf(l[e] - m);
        l[e] = p;
        s += p;
    }
    s = warp_sum(s);
    __syncwarp();
    float picked = 0.f;
    for (int j = 0; j < k; j++) {
        float best = -1.f;
        int bestE = experts;
        for (int e = lane; e < experts; e += 32) {
            float p = l[e];
            if (p > best || (p == best && e < bestE)) {
                best = p;
                bestE = e;
            }
        }
#pragma unroll
        for (int o = 16; o > 0; o >>= 1) {
            float ob = __shfl_xor_sync(0xffffffffu, best, o);
            int oe = __shfl_xor_sync(0xffffffffu, bestE, o);
            if (ob > best || (ob == best && oe < bestE)) {
                best = ob;
                bestE = oe;
            }
        }
        if (lane == 0) {
            chosen[blockIdx.x * k + j] = bestE;
            weights[blockIdx.x * k + j] = best / s;
            l[bestE] = -1.f;  // taken
        }
        picked += best / s;
        __syncwarp();
    }
    if (lane == 0) {
        float f = (normalize ? 1.f / picked : 1.f) * scale;
        for (int j = 0; j < k; j++) weights[blockIdx.x * k + j] *= f;
    }
}

// h[s][r] = silu(gate_e[r] . xb[t]) * (up_e[r] . xb[t]) for slot s = t * k + j, e = chosen[s]: one warp per row r
// of one slot (grid: rows / MV_WARPS × slots). A negative e (an expert offloaded elsewhere) is skipped, here and in
// moe_down.
template <int TYPE>
__device__ __forceinline__ void moe_gate_up_body(const uint8_t* __restrict__ gate, const uint8_t* __restrict__ up,
                                                 long long stride, int ffn, long long rowBytes, int cols,
                                                 const float* __restrict__ xb, const int* __restrict__ chosen, int k,
                                                 float* h) {
    typedef Fmt<TYPE> F;
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int slot = blockIdx.y;
    if (r >= ffn) return;
    const int e = chosen[slot];
    if (e < 0) return;  // a choice computed elsewhere (the host, or another pass over an expert pool): h unused
    const float* x = xb + (size_t)(slot / k) * cols;
    const uint8_t* rowA = gate + (size_t)e * stride + (size_t)r * rowBytes;
    const uint8_t* rowB = up + (size_t)e * stride + (size_t)r * rowBytes;
    const int units = cols / F::UNIT;
    float acc[1] = {0.f}, acc2[1] = {0.f}, ss[1] = {0.f};
    for (int u = lane; u < units; u += 32) {
        float wa[F::UNIT], wb[F::UNIT];
        int off[F::RUNS];
        typename F::Raw ra = F::fetch(rowA, u);
        typename F::Raw rb = F::fetch(rowB, u);
        F::decode(ra, u, wa, off);
        F::decode(rb, u, wb, off);
        dot_runs<1, F::RUNS, F::RUNLEN, true, false>(wa, wb, off, x, cols, nullptr, acc, acc2, ss);
    }
    float g = warp_sum(acc[0]);
    float v = warp_sum(acc2[0]);
    if (lane == 0) h[(size_t)slot * ffn + r] = silu_mul(g, v);
}

// x[t][r] += sum_j weights[t*k+j] * (down_e[r] . h[t*k+j]), e = chosen[t*k+j]: one warp per output row r of one
// token t (grid: dim / MV_WARPS × tokens); the k experts are summed in order, so the result is deterministic.
template <int TYPE>
__device__ __forceinline__ void moe_down_body(const uint8_t* __restrict__ down, long long stride, int dim,
                                              long long rowBytes, int ffn, const float* __restrict__ h,
                                              const int* __restrict__ chosen, const float* __restrict__ weights, int k,
                                              float* x) {
    typedef Fmt<TYPE> F;
    const int lane = threadIdx.x & 31;
    const int r = blockIdx.x * MV_WARPS + (threadIdx.x >> 5);
    const int t = blockIdx.y;
    if (r >= dim) return;
    const int units = ffn / F::UNIT;
    float total = 0.f;
    for (int j = 0; j < k; j++) {
        const int slot = t * k + j;
        const int e = chosen[slot];
        if (e < 0) continue;  // computed elsewhere: adds nothing here
        const uint8_t* row = down + (size_t)e * stride + (size_t)r * rowBytes;
        const float* hv = h + (size_t)slot * ffn;
        float acc[1] = {0.f}, acc2[1] = {0.f}, ss[1] = {0.f};
        for (int u = lane; u < units; u += 32) {
            float wa[F::UNIT];
            int off[F::RUNS];
            typename F::Raw ra = F::fetch(row, u);
            F::decode(ra, u, wa, off);
            dot_runs<1, F::RUNS, F::RUNLEN, false, false>(wa, wa, off, hv, ffn, nullptr, acc, acc2, ss);
        }
        total = fmaf(weights[slot], warp_sum(acc[0]), total);
    }
    if (lane == 0) x[(size_t)t * dim + r] += total;
}

#define MOE_INST(TYPE, NAME)                                                                                       \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_gate_up_##NAME(                                \
        const uint8_t* gate, const uint8_t* up, long long stride, int ffn, long long rowBytes, int cols,           \
        const float* xb, const int* chosen, int k, float* h) {                                                     \
        moe_gate_up_body<TYPE>(gate, up, stride, ffn, rowBytes, cols, xb, chosen, k, h);                           \
    }                                                                                                              \
    extern "C" __global__ void __launch_bounds__(32 * MV_WARPS) moe_down_##NAME(                                   \
        const uint8_t* down, long long stride, int dim, long long rowBytes, int ffn, const float* h,               \
        const int* chosen, const float* weights, int k, float* x) {                                                \
        moe_down_body<TYPE>(down, stride, dim, rowBytes, ffn, h, chosen, weights, k, x);                           \
    }

MOE_INST(T_F32, f32)
MOE_INST(T_F16, f16)
MOE_INST(T_BF16, bf16)
MOE_INST(T_Q8_0, q8_0)
MOE_INST(T_Q4_0, q4_0)
MOE_INST(T_Q4_1, q4_1)
MOE_INST(T_Q4_K, q4_k)
MOE_INST(T_Q5_K, q5_k)
MOE_INST(T_Q6_K, q6_k)

// The shared expert's gate (Qwen2-MoE): h[t] *= sigmoid(gateInput . xb[t]), one block per token.
extern "C" __global__ void moe_shared_scale(const float* __restrict__ xb, const float* __restrict__ gateInput,
                                            float* h, int dim, int ffn) {
    __shared__ float scratch[32];
    const float* x = xb + (size_t)blockIdx.x * dim;
    float s = 0.f;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) s = fmaf(x[i], gateInput[i], s);
    s = block_sum(s, scratch);
    float g = 1.f / (1.f + expf(-s));
    float* hr = h + (size_t)blockIdx.x * ffn;
    for (int i = threadIdx.x; i < ffn; i += blockDim.x) hr[i] *= g;
}

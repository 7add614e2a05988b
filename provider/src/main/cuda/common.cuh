// What the kernels share: the step's parameter slots and the warp and block reductions.
#pragma once

#define P_POS 0
#define P_COUNT 1
#define P_TOKENS 2

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// One warp's 32 consecutive values (element e = e0 + lane of a row laid out in blocks of 32, e0 a multiple of 32)
// into the 8-bit activation layout of matvec_x8.cuh: int8 xq[e] = round(v * 127 / max|v|), the block's scale
// max|v| / 127 in xd[e / 32], and the float sums of its two halves in xs[e / 16], the same operations in the same order
// as quantize_x8_body (matvec_x8.cuh). Every lane of the warp must call it. Used by attn_decode's 8-bit output
// (-Doffload4j.cuda.fusedAttentionQuantize=true), which has not yet run on a GPU.
__device__ __forceinline__ void quantize32_store(float v, size_t e, int8_t* __restrict__ xq, float* __restrict__ xd,
                                                 float* __restrict__ xs) {
    const int lane = threadIdx.x & 31;
    float amax = warp_max(fabsf(v));
    int q = amax == 0.f ? 0 : __float2int_rn(v * (127.f / amax));
    xq[e] = (int8_t)q;
    float s = v;  // the sum of this lane's half (16 values)
#pragma unroll
    for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    const size_t b = e >> 5;
    if (lane == 0) {
        xd[b] = amax / 127.f;
        xs[2 * b] = s;
    } else if (lane == 16) {
        xs[2 * b + 1] = s;
    }
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024). Every thread gets the result.
__device__ float block_sum(float v, float* scratch /* 32 floats */) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float r = 0.f;
    for (int i = 0; i < warps; i++) r += scratch[i];
    return r;
}

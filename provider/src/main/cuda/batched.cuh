// Batched decode: matrix-vector products over 2..MVB_MAX rows of activations (one token of each of several
// sequences, or a short prompt chunk) that read and decode each weight once per launch for all rows.
//
// Included at the end of offload4j.cu: it uses that file's MV_* conventions (MV_PARAMS, the modes, warp_sum,
// silu_mul) and the Fmt<TYPE> decoders of formats.cuh.
//
// The layout follows matvec_body (one lane strides over a row's units, the result is reduced with shuffles), with
// two differences:
//  * the row count `nt` is a run-time value up to MVB_MAX (accumulators for MVB_MAX rows are held in registers and
//    rows >= nt are predicated off), so one kernel per format and mode serves every batch of up to MVB_MAX rows,
//    instead of one launch per tile of 8 re-reading the weights;
//  * a warp decodes two weight rows at once (STORE/ADD: MVB_M consecutive output rows; SWIGLU: the gate and the up
//    row of one output row), so every activation value loaded serves two decoded weights: at 16 rows the loads of
//    x, not the weights, would otherwise bound the kernel (each weight element needs 16 activation loads).
//    (Four rows per warp compiled without spills for F16 and Q8_0 but not for Q4_K/Q6_K: not tried on a GPU.)
// The products run row by row (t outermost): with the unit loops outermost the compiler hoisted the activation
// loads of all 16 rows and spilled registers (Q6_K, Q4_0, Q5_x); this order spills nothing and keeps each
// accumulator's order of operations.
// Each output row accumulates its units in the same lane, in the same order and with the same fused multiply-adds
// as matvec_body, so its result equals the batch-1 kernel's bit for bit (BatchedDecodeGpuTest checks this).
#pragma once

#define MVB_MAX 16
#define MVB_WARPS 4
// Output rows per warp in modes STORE and ADD (CudaKernels.batchedRowsPerWarp repeats it).
#define MVB_M 2

// acc[s][t] += w_s . x_t for the unit's runs, for t < nt; with NORM, x is multiplied by the norm weights g first
// and ss[t] += x^2 (per accumulator the same operations in the same order as dot_runs).
template <int S, int UNIT, int RUNS, int RUNLEN, bool NORM>
__device__ __forceinline__ void mvb_dot(const float (&wv)[S][UNIT], const int* off, const float* __restrict__ x,
                                        int ldx, const float* __restrict__ g, int nt, float (&acc)[S][MVB_MAX],
                                        float (&ss)[MVB_MAX]) {
#pragma unroll
    for (int t = 0; t < MVB_MAX; t++) {
        if (t < nt) {
#pragma unroll
            for (int r = 0; r < RUNS; r++) {
#pragma unroll
                for (int i = 0; i < RUNLEN / 4; i++) {
                    float4 v = __ldg(reinterpret_cast<const float4*>(x + (size_t)t * ldx + off[r]) + i);
                    if (NORM) {
                        float4 gg = __ldg(reinterpret_cast<const float4*>(g + off[r]) + i);
                        ss[t] = fmaf(v.x, v.x, fmaf(v.y, v.y, fmaf(v.z, v.z, fmaf(v.w, v.w, ss[t]))));
                        v.x *= gg.x; v.y *= gg.y; v.z *= gg.z; v.w *= gg.w;
                    }
#pragma unroll
                    for (int s = 0; s < S; s++) {
                        const float* a = &wv[s][r * RUNLEN + 4 * i];
                        acc[s][t] = fmaf(a[0], v.x, fmaf(a[1], v.y, fmaf(a[2], v.z, fmaf(a[3], v.w, acc[s][t]))));
                    }
                }
            }
        }
    }
}

// The matrix (segment) that holds global row g of the launch, and the row within it; false past the last one.
__device__ __forceinline__ bool mvb_row(int g, const uint8_t* w0, const uint8_t* w1, const uint8_t* w2, int rows0,
                                        int rows1, int rows2, float* y0, float* y1, float* y2, const uint8_t*& w,
                                        float*& y, int& rows, int& r) {
    if (g < rows0) {
        w = w0; y = y0; rows = rows0; r = g;
        return true;
    }
    g -= rows0;
    if (g < rows1) {
        w = w1; y = y1; rows = rows1; r = g;
        return true;
    }
    g -= rows1;
    w = w2; y = y2; rows = rows2; r = g;
    return g < rows2;
}

template <int TYPE, int MODE, bool NORM>
__device__ __forceinline__ void mvb_body(MV_PARAMS) {
    typedef Fmt<TYPE> F;
    constexpr bool SW = MODE == MV_SWIGLU;
    constexpr int S = SW ? 2 : MVB_M;  // weight rows decoded per unit position
    constexpr int UNR = F::UNR > 1 ? F::UNR / 2 : 1;  // S rows: keep about the batch-1 kernel's bytes in flight
    const int lane = threadIdx.x & 31;
    const int warp = blockIdx.x * MVB_WARPS + (threadIdx.x >> 5);
    const uint8_t* src[S];
    float* dst[S];
    int rowsOf[S], rowOf[S];
    bool ok[S];
    if constexpr (SW) {
        ok[0] = warp < rows0;
        ok[1] = false;  // the up row only feeds the gate's output
        src[0] = w0 + (size_t)warp * rowBytes;
        src[1] = w1 + (size_t)warp * rowBytes;
        dst[0] = y0; dst[1] = y0;
        rowsOf[0] = rowsOf[1] = rows0;
        rowOf[0] = rowOf[1] = warp;
    } else {
#pragma unroll
        for (int s = 0; s < S; s++) {
            const uint8_t* w;
            ok[s] = mvb_row(warp * S + s, w0, w1, w2, rows0, rows1, rows2, y0, y1, y2, w, dst[s], rowsOf[s], rowOf[s]);
            // a row past the end reads row 0 of w0 (valid memory) and stores nothing
            src[s] = ok[s] ? w + (size_t)rowOf[s] * rowBytes : w0;
        }
    }
    if (!ok[0]) return;  // whole warps only: no barrier below
    const int units = cols / F::UNIT;
    float acc[S][MVB_MAX], ss[MVB_MAX];
#pragma unroll
    for (int t = 0; t < MVB_MAX; t++) {
        ss[t] = 0.f;
#pragma unroll
        for (int s = 0; s < S; s++) acc[s][t] = 0.f;
    }
    for (int u0 = lane; u0 < units; u0 += 32 * UNR) {
        typename F::Raw raw[UNR][S];
#pragma unroll
        for (int k = 0; k < UNR; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
#pragma unroll
                for (int s = 0; s < S; s++) raw[k][s] = F::fetch(src[s], u);
            }
        }
#pragma unroll
        for (int k = 0; k < UNR; k++) {
            int u = u0 + 32 * k;
            if (u < units) {
                float wv[S][F::UNIT];
                int off[F::RUNS];
#pragma unroll
                for (int s = 0; s < S; s++) F::decode(raw[k][s], u, wv[s], off);
                mvb_dot<S, F::UNIT, F::RUNS, F::RUNLEN, NORM>(wv, off, x, cols, normW, nt, acc, ss);
            }
        }
    }
#pragma unroll
    for (int t = 0; t < MVB_MAX; t++) {
        if (t < nt) {  // nt is the same in every lane: the shuffles below see the whole warp
#pragma unroll
            for (int s = 0; s < S; s++) acc[s][t] = warp_sum(acc[s][t]);
            if (NORM) {
                float scale = (float)(1.0 / sqrt((double)(warp_sum(ss[t]) / (float)cols + eps)));
#pragma unroll
                for (int s = 0; s < S; s++) acc[s][t] *= scale;
            }
        }
    }
    if (lane == 0) {
#pragma unroll
        for (int t = 0; t < MVB_MAX; t++) {
            if (t < nt) {
                if constexpr (SW) {
                    dst[0][(size_t)t * rowsOf[0] + rowOf[0]] = silu_mul(acc[0][t], acc[1][t]);
                } else {
#pragma unroll
                    for (int s = 0; s < S; s++) {
                        if (ok[s]) {
                            float* d = dst[s] + (size_t)t * rowsOf[s] + rowOf[s];
                            if (MODE == MV_STORE) *d = acc[s][t];
                            else *d = *d + acc[s][t];
                        }
                    }
                }
            }
        }
    }
}

// One kernel per format and mode (the norm chosen by normW != null, as for matvec_*): mvb_<fmt>_m<mode>.
// Launch: MVB_WARPS warps per block, each warp MVB_M output rows (STORE, ADD) or one (SWIGLU); 1 <= nt <= MVB_MAX.
#define MVB_INST(TYPE, NAME, MODE)                                                                             \
    extern "C" __global__ void __launch_bounds__(32 * MVB_WARPS) mvb_##NAME##_m##MODE(MV_PARAMS) {             \
        if (MODE != MV_ADD && normW) mvb_body<TYPE, MODE, MODE != MV_ADD>(MV_ARGS);                            \
        else mvb_body<TYPE, MODE, false>(MV_ARGS);                                                             \
    }
#define MVB_ALL(TYPE, NAME) MVB_INST(TYPE, NAME, 0) MVB_INST(TYPE, NAME, 1) MVB_INST(TYPE, NAME, 2)

MVB_ALL(T_F32, f32)
MVB_ALL(T_F16, f16)
MVB_ALL(T_BF16, bf16)
MVB_ALL(T_Q8_0, q8_0)
MVB_ALL(T_Q4_0, q4_0)
MVB_ALL(T_Q4_1, q4_1)
MVB_ALL(T_Q4_K, q4_k)
MVB_ALL(T_Q5_K, q5_k)
MVB_ALL(T_Q6_K, q6_k)
MVB_ALL(T_Q5_0, q5_0)
MVB_ALL(T_Q5_1, q5_1)
MVB_ALL(T_Q2_K, q2_k)
MVB_ALL(T_Q3_K, q3_k)
MVB_ALL(T_IQ4_NL, iq4_nl)
MVB_ALL(T_IQ4_XS, iq4_xs)

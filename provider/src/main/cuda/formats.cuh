// GGML block formats, decoded in registers straight from the bytes as the GGUF file stores them.
//
// Every format exposes a "unit": the smallest piece of a row that one thread decodes at a time.
// Decoding is split in two: fetch() issues the unit's loads into a small Raw struct of registers and
// decode() turns them into floats. The matrix-vector kernel fetches several units before decoding the
// first, so that each thread keeps several independent loads in flight (decode is latency-bound
// otherwise: one thread's next load would wait for its previous multiply).
// A unit is UNIT elements made of RUNS runs of RUNLEN contiguous elements each (K-quants interleave
// two sub-blocks in the same bytes, so one unit yields two or four runs). Unit sizes are chosen so
// that the per-block header (scales, mins) is amortised over enough elements while the loads stay as
// wide as the block's alignment allows:
//   F32   4 elements, one 16-byte load           F16/BF16  8 elements, one 16-byte load
//   Q8_0 16 elements (half a 34-byte block)       Q4_0/Q4_1 32 elements (one block)
//   Q4_K/Q5_K 16 elements (8 quant bytes = 8 low + 8 high nibbles of one 64-element chunk)
//   Q6_K 32 elements (8 positions of one 128-element half, in each of its four 32-element groups)
//   Q5_0/Q5_1/IQ4_NL 32 elements (one block)
//   Q2_K/Q3_K 32 elements (8 quant bytes of one 128-element half: four 2-bit fields each)
//   IQ4_XS 16 elements (8 quant bytes = 8 low + 8 high nibbles of one 32-element sub-block)
// Blocks of 34 (Q8_0), 18 (Q4_0, IQ4_NL), 22 (Q5_0), 110 (Q3_K) and 210 (Q6_K) bytes are only 2-byte
// aligned, so those formats read pairs of 16-bit words; 20-, 24-, 84-, 136-, 144- and 176-byte blocks
// allow 4-, 8- and 16-byte loads.
//
// The formats added for llama-quantize's low-bit presets (Q5_0, Q5_1, Q2_K, Q3_K, IQ4_NL, IQ4_XS) decode
// bit for bit as ggml's reference dequantization (gguf-py) and the CPU kernels do: where ggml rounds a
// product before adding (d * q + m), __fmul_rn keeps nvcc from contracting the two into one fma.
#pragma once

#include <cuda_fp16.h>
#include <stdint.h>

// ggml's type ids, as written into GGUF tensor infos.
#define T_F32 0
#define T_F16 1
#define T_Q4_0 2
#define T_Q4_1 3
#define T_Q8_0 8
#define T_Q4_K 12
#define T_Q5_K 13
#define T_Q6_K 14
#define T_Q5_0 6
#define T_Q5_1 7
#define T_Q2_K 10
#define T_Q3_K 11
#define T_IQ4_NL 20
#define T_IQ4_XS 23
#define T_BF16 30

__device__ __forceinline__ uint32_t ld_u16(const uint8_t* p) {
    return __ldg(reinterpret_cast<const unsigned short*>(p));
}

// Four bytes from a 2-byte aligned address.
__device__ __forceinline__ uint32_t ld_u32_a2(const uint8_t* p) {
    const unsigned short* h = reinterpret_cast<const unsigned short*>(p);
    return (uint32_t)__ldg(h) | ((uint32_t)__ldg(h + 1) << 16);
}

__device__ __forceinline__ float h2f(uint32_t bits) {
    return __half2float(__ushort_as_half((unsigned short)(bits & 0xFFFF)));
}

__device__ __forceinline__ float bf2f(uint32_t bits16) {
    return __uint_as_float(bits16 << 16);
}

// Signed byte k (0..3) of a word. Converted with (float), this is one I2F.S8 with a byte select: measured faster
// for Q8_0 than the mantissa trick below (sbyte_f, three instructions), which wins for nibbles and 6-bit fields.
__device__ __forceinline__ int sbyte(uint32_t w, int k) {
    return (int)(int8_t)((w >> (8 * k)) & 0xFF);
}

__device__ __forceinline__ uint32_t ubyte(uint32_t w, int k) {
    return (w >> (8 * k)) & 0xFF;
}

// Small integers to floats without the conversion unit. On sm_80-90 an int-to-float conversion (I2F) issues
// at a quarter to an eighth of the FMA rate, and decoding did one per weight: it bounded the decode kernels.
// Instead the integer v is placed into the mantissa of 2^23 (0x4B000000 | v is the float 2^23 + v, exactly, for
// 0 <= v < 2^23) and 2^23 + bias subtracted: one logic op or byte permute and one add, both full-rate, and the
// result is exactly (float)(v - bias) - the same float the conversion gave, so no output changes by a bit.
__device__ __forceinline__ float u2f(uint32_t v, float bias = 0.f) {
    return __uint_as_float(0x4B000000u | v) - (8388608.0f + bias);
}

// Byte k (0..3, a compile-time constant in the unrolled loops) of w, unsigned, minus bias, as a float: the permute
// builds 0x4B0000bb in one instruction.
__device__ __forceinline__ float ubyte_f(uint32_t w, int k, float bias = 0.f) {
    return __uint_as_float(__byte_perm(w, 0x4B00u, 0x5440u | k)) - (8388608.0f + bias);
}

// Signed byte k of w as a float: its sign bit flipped it is b + 128 (offset binary), so 128 more is subtracted.
// (Q6_K's scales; Q8_0's quants keep the conversion, see sbyte.)
__device__ __forceinline__ float sbyte_f(uint32_t w, int k) {
    return ubyte_f(w ^ 0x80808080u, k, 128.0f);
}

// Byte k (0..11) of the 12-byte K-quant scale field held in three words (k may be a run-time value:
// selecting among registers keeps the words out of local memory).
__device__ __forceinline__ uint32_t kbyte(uint32_t s0, uint32_t s1, uint32_t s2, int k) {
    uint32_t w = k < 4 ? s0 : (k < 8 ? s1 : s2);
    return (w >> (8 * (k & 3))) & 0xFF;
}

// ggml's get_scale_min_k4 for the two sub-blocks 2c and 2c + 1 of 64-element chunk c (0..3): their 6-bit scales
// and mins. All eight scales (and mins) are unpacked at once into byte lanes of two words (sub-blocks 0-3: the low
// 6 bits of bytes 0-3 (4-7); sub-blocks 4-7: a nibble of bytes 8-11 and the top bits of bytes 0-3 (4-7)), then the
// chunk's two bytes are picked: a few logic ops per unit, and no branch on c (lanes of a warp hold every c).
__device__ __forceinline__ void kscales(uint32_t s0, uint32_t s1, uint32_t s2, int c, float& sc1, float& m1,
                                        float& sc2, float& m2) {
    uint32_t sc = c < 2 ? s0 & 0x3F3F3F3Fu : (s2 & 0x0F0F0F0Fu) | ((s0 >> 2) & 0x30303030u);
    uint32_t m = c < 2 ? s1 & 0x3F3F3F3Fu : ((s2 >> 4) & 0x0F0F0F0Fu) | ((s1 >> 2) & 0x30303030u);
    int b = 2 * (c & 1);
    sc1 = ubyte_f(sc, b);
    sc2 = ubyte_f(sc, b + 1);
    m1 = ubyte_f(m, b);
    m2 = ubyte_f(m, b + 1);
}

template <int TYPE> struct Fmt;

template <> struct Fmt<T_F32> {
    static constexpr int UNIT = 4, RUNS = 1, RUNLEN = 4, UNR = 4;
    struct Raw { float4 v; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        return Raw{__ldg(reinterpret_cast<const float4*>(row) + u)};
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        w[0] = r.v.x; w[1] = r.v.y; w[2] = r.v.z; w[3] = r.v.w;
        off[0] = 4 * u;
    }
    __device__ __forceinline__ static float one(const uint8_t* row, int i) {
        return reinterpret_cast<const float*>(row)[i];
    }
};

template <> struct Fmt<T_F16> {
    static constexpr int UNIT = 8, RUNS = 1, RUNLEN = 8, UNR = 4;
    struct Raw { uint4 v; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        return Raw{__ldg(reinterpret_cast<const uint4*>(row) + u)};
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        uint32_t words[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
            w[2 * i] = f.x;
            w[2 * i + 1] = f.y;
        }
        off[0] = 8 * u;
    }
    __device__ __forceinline__ static float one(const uint8_t* row, int i) {
        return h2f(reinterpret_cast<const uint16_t*>(row)[i]);
    }
};

template <> struct Fmt<T_BF16> {
    static constexpr int UNIT = 8, RUNS = 1, RUNLEN = 8, UNR = 4;
    struct Raw { uint4 v; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        return Raw{__ldg(reinterpret_cast<const uint4*>(row) + u)};
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        uint32_t words[4] = {r.v.x, r.v.y, r.v.z, r.v.w};
#pragma unroll
        for (int i = 0; i < 4; i++) {
            w[2 * i] = __uint_as_float(words[i] << 16);
            w[2 * i + 1] = __uint_as_float(words[i] & 0xFFFF0000u);
        }
        off[0] = 8 * u;
    }
    __device__ __forceinline__ static float one(const uint8_t* row, int i) {
        return bf2f(reinterpret_cast<const uint16_t*>(row)[i]);
    }
};

// Q8_0: {fp16 d; int8 q[32]} = 34 bytes; x = d * q. A unit is half a block.
template <> struct Fmt<T_Q8_0> {
    static constexpr int UNIT = 16, RUNS = 1, RUNLEN = 16, UNR = 4;
    struct Raw { uint32_t d, q[4]; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 34 * (size_t)(u >> 1);
        const uint8_t* q = blk + 2 + 16 * (u & 1);
        Raw r;
        r.d = ld_u16(blk);
#pragma unroll
        for (int i = 0; i < 4; i++) r.q[i] = ld_u32_a2(q + 4 * i);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        float d = h2f(r.d);
#pragma unroll
        for (int i = 0; i < 16; i++) w[i] = d * (float)sbyte(r.q[i >> 2], i & 3);  // see sbyte
        off[0] = 32 * (u >> 1) + 16 * (u & 1);
    }
};

// Q4_0: {fp16 d; uint8 qs[16]} = 18 bytes; element j = d * ((qs[j] & 15) - 8), element j+16 = d * ((qs[j] >> 4) - 8).
template <> struct Fmt<T_Q4_0> {
    static constexpr int UNIT = 32, RUNS = 2, RUNLEN = 16, UNR = 2;
    struct Raw { uint32_t d, q[4]; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 18 * (size_t)u;
        Raw r;
        r.d = ld_u16(blk);
#pragma unroll
        for (int i = 0; i < 4; i++) r.q[i] = ld_u32_a2(blk + 2 + 4 * i);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        float d = h2f(r.d);
#pragma unroll
        for (int i = 0; i < 16; i++) {
            uint32_t q = r.q[i >> 2];
            w[i] = d * ubyte_f(q & 0x0F0F0F0Fu, i & 3, 8.f);
            w[16 + i] = d * ubyte_f((q >> 4) & 0x0F0F0F0Fu, i & 3, 8.f);
        }
        off[0] = 32 * u;
        off[1] = 32 * u + 16;
    }
};

// Q4_1: {fp16 d; fp16 m; uint8 qs[16]} = 20 bytes; x = d * q + m, nibbles laid out as Q4_0.
template <> struct Fmt<T_Q4_1> {
    static constexpr int UNIT = 32, RUNS = 2, RUNLEN = 16, UNR = 2;
    struct Raw { uint32_t dm, q[4]; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint32_t* blk = reinterpret_cast<const uint32_t*>(row + 20 * (size_t)u);
        Raw r;
        r.dm = __ldg(blk);
#pragma unroll
        for (int i = 0; i < 4; i++) r.q[i] = __ldg(blk + 1 + i);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        float d = h2f(r.dm), m = h2f(r.dm >> 16);
#pragma unroll
        for (int i = 0; i < 16; i++) {
            uint32_t q = r.q[i >> 2];
            w[i] = d * ubyte_f(q & 0x0F0F0F0Fu, i & 3) + m;
            w[16 + i] = d * ubyte_f((q >> 4) & 0x0F0F0F0Fu, i & 3) + m;
        }
        off[0] = 32 * u;
        off[1] = 32 * u + 16;
    }
};

// Q4_K: {fp16 d; fp16 dmin; uint8 scales[12]; uint8 qs[128]} = 144 bytes, 256 elements in four chunks
// of 64; qs[32c + l] holds element 64c + l (low nibble, sub-block 2c) and 64c + 32 + l (high nibble,
// sub-block 2c + 1); x = d * sc * q - dmin * m. A unit is 8 quant bytes: 8 low + 8 high elements.
template <> struct Fmt<T_Q4_K> {
    static constexpr int UNIT = 16, RUNS = 2, RUNLEN = 8, UNR = 4;
    struct Raw { uint32_t dd, s0, s1, s2; uint2 q; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 144 * (size_t)(u >> 4);
        int k = u & 15, c = k >> 2, l0 = (k & 3) * 8;
        const uint32_t* w = reinterpret_cast<const uint32_t*>(blk);
        Raw r;
        r.dd = __ldg(w);
        r.s0 = __ldg(w + 1);
        r.s1 = __ldg(w + 2);
        r.s2 = __ldg(w + 3);
        r.q = __ldg(reinterpret_cast<const uint2*>(blk + 16 + 32 * c + l0));
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        int k = u & 15, c = k >> 2, l0 = (k & 3) * 8;
        float d = h2f(r.dd), dmin = h2f(r.dd >> 16);
        float sc1, m1, sc2, m2;
        kscales(r.s0, r.s1, r.s2, c, sc1, m1, sc2, m2);
        float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
        uint32_t qw[2] = {r.q.x, r.q.y};
#pragma unroll
        for (int i = 0; i < 8; i++) {
            uint32_t q = qw[i >> 2];
            w[i] = d1 * ubyte_f(q & 0x0F0F0F0Fu, i & 3) - mm1;
            w[8 + i] = d2 * ubyte_f((q >> 4) & 0x0F0F0F0Fu, i & 3) - mm2;
        }
        int base = 256 * (u >> 4) + 64 * c + l0;
        off[0] = base;
        off[1] = base + 32;
    }
};

// Q5_K: {fp16 d; fp16 dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]} = 176 bytes; as Q4_K with a
// fifth bit: element 64c + l takes bit 2c of qh[l], element 64c + 32 + l bit 2c + 1.
template <> struct Fmt<T_Q5_K> {
    static constexpr int UNIT = 16, RUNS = 2, RUNLEN = 8, UNR = 4;
    struct Raw { uint32_t dd, s0, s1, s2; uint2 q, h; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 176 * (size_t)(u >> 4);
        int k = u & 15, c = k >> 2, l0 = (k & 3) * 8;
        const uint32_t* w = reinterpret_cast<const uint32_t*>(blk);
        Raw r;
        r.dd = __ldg(w);
        r.s0 = __ldg(w + 1);
        r.s1 = __ldg(w + 2);
        r.s2 = __ldg(w + 3);
        r.h = __ldg(reinterpret_cast<const uint2*>(blk + 16 + l0));
        r.q = __ldg(reinterpret_cast<const uint2*>(blk + 48 + 32 * c + l0));
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        int k = u & 15, c = k >> 2, l0 = (k & 3) * 8;
        float d = h2f(r.dd), dmin = h2f(r.dd >> 16);
        float sc1, m1, sc2, m2;
        kscales(r.s0, r.s1, r.s2, c, sc1, m1, sc2, m2);
        float d1 = d * sc1, mm1 = dmin * m1, d2 = d * sc2, mm2 = dmin * m2;
        uint32_t qw[2] = {r.q.x, r.q.y};
        uint32_t hw[2] = {r.h.x, r.h.y};
#pragma unroll
        for (int j = 0; j < 2; j++) {
            // four elements per word: the low (high) nibbles with their fifth bit, bit 2c (2c + 1) of each qh byte
            uint32_t lo = (qw[j] & 0x0F0F0F0Fu) | (((hw[j] >> (2 * c)) & 0x01010101u) << 4);
            uint32_t hi = ((qw[j] >> 4) & 0x0F0F0F0Fu) | (((hw[j] >> (2 * c + 1)) & 0x01010101u) << 4);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                w[4 * j + i] = d1 * ubyte_f(lo, i) - mm1;
                w[8 + 4 * j + i] = d2 * ubyte_f(hi, i) - mm2;
            }
        }
        int base = 256 * (u >> 4) + 64 * c + l0;
        off[0] = base;
        off[1] = base + 32;
    }
};

// Q6_K: {uint8 ql[128]; uint8 qh[64]; int8 scales[16]; fp16 d} = 210 bytes, 256 elements in two
// halves of 128. In half n, position l (0..31) gives four elements 128n + l + 32g (g = 0..3): low
// nibble of ql[64n + l] (g=0), of ql[64n + 32 + l] (g=1), high nibbles of the same (g=2, 3); two more
// bits from qh[32n + l] at shift 2g; scale scales[8n + l/16 + 2g]; x = d * scale * (q - 32).
// A unit is 8 positions of one half: 32 elements in four runs of 8.
template <> struct Fmt<T_Q6_K> {
    static constexpr int UNIT = 32, RUNS = 4, RUNLEN = 8, UNR = 2;
    struct Raw { uint32_t d, a0, a1, b0, b1, h0, h1, sc0, sc1; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 210 * (size_t)(u >> 3);
        int k = u & 7, n = k >> 2, l0 = (k & 3) * 8;
        const uint8_t* ql = blk + 64 * n + l0;
        const uint8_t* qh = blk + 128 + 32 * n + l0;
        const uint8_t* sc = blk + 192 + 8 * n + (l0 >> 4);  // the unit's scales are bytes 0, 2, 4, 6 from here
        Raw r;
        r.d = ld_u16(blk + 208);
        r.a0 = ld_u32_a2(ql);
        r.a1 = ld_u32_a2(ql + 4);
        r.b0 = ld_u32_a2(ql + 32);
        r.b1 = ld_u32_a2(ql + 36);
        r.h0 = ld_u32_a2(qh);
        r.h1 = ld_u32_a2(qh + 4);
        if (l0 >> 4) {  // odd address: the four scale bytes are the high bytes of 16-bit words
            r.sc0 = ld_u16(sc - 1) >> 8 | (ld_u16(sc + 1) & 0xFF00);
            r.sc1 = ld_u16(sc + 3) >> 8 | (ld_u16(sc + 5) & 0xFF00);
        } else {
            r.sc0 = (ld_u16(sc) & 0xFF) | (ld_u16(sc + 2) & 0xFF) << 8;
            r.sc1 = (ld_u16(sc + 4) & 0xFF) | (ld_u16(sc + 6) & 0xFF) << 8;
        }
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        int k = u & 7, n = k >> 2, l0 = (k & 3) * 8;
        float d = h2f(r.d);
        float s0 = d * sbyte_f(r.sc0, 0), s1 = d * sbyte_f(r.sc0, 1);
        float s2 = d * sbyte_f(r.sc1, 0), s3 = d * sbyte_f(r.sc1, 1);
        uint32_t a[2] = {r.a0, r.a1}, b[2] = {r.b0, r.b1}, h[2] = {r.h0, r.h1};
#pragma unroll
        for (int j = 0; j < 2; j++) {
            // the four groups' 6-bit quants of four positions at once, one per byte
            uint32_t g0 = (a[j] & 0x0F0F0F0Fu) | ((h[j] & 0x03030303u) << 4);
            uint32_t g1 = (b[j] & 0x0F0F0F0Fu) | ((h[j] & 0x0C0C0C0Cu) << 2);
            uint32_t g2 = ((a[j] >> 4) & 0x0F0F0F0Fu) | (h[j] & 0x30303030u);
            uint32_t g3 = ((b[j] >> 4) & 0x0F0F0F0Fu) | ((h[j] >> 2) & 0x30303030u);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                w[4 * j + i] = s0 * ubyte_f(g0, i, 32.f);
                w[8 + 4 * j + i] = s1 * ubyte_f(g1, i, 32.f);
                w[16 + 4 * j + i] = s2 * ubyte_f(g2, i, 32.f);
                w[24 + 4 * j + i] = s3 * ubyte_f(g3, i, 32.f);
            }
        }
        int base = 256 * (u >> 3) + 128 * n + l0;
        off[0] = base;
        off[1] = base + 32;
        off[2] = base + 64;
        off[3] = base + 96;
    }
};

// Q5_0: {fp16 d; uint8 qh[4]; uint8 qs[16]} = 22 bytes; element j = d * (((qs[j] & 15) | bit j of qh << 4) - 16),
// element j+16 = d * (((qs[j] >> 4) | bit j+16 of qh << 4) - 16), qh read as a little-endian word.
template <> struct Fmt<T_Q5_0> {
    static constexpr int UNIT = 32, RUNS = 2, RUNLEN = 16, UNR = 2;
    struct Raw { uint32_t d, qh, q[4]; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 22 * (size_t)u;
        Raw r;
        r.d = ld_u16(blk);
        r.qh = ld_u32_a2(blk + 2);
#pragma unroll
        for (int i = 0; i < 4; i++) r.q[i] = ld_u32_a2(blk + 6 + 4 * i);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        float d = h2f(r.d);
#pragma unroll
        for (int i = 0; i < 16; i++) {
            uint32_t b = ubyte(r.q[i >> 2], i & 3);
            w[i] = d * u2f((b & 0xF) | (((r.qh >> i) & 1) << 4), 16.f);
            w[16 + i] = d * u2f((b >> 4) | (((r.qh >> (i + 16)) & 1) << 4), 16.f);
        }
        off[0] = 32 * u;
        off[1] = 32 * u + 16;
    }
};

// Q5_1: {fp16 d; fp16 m; uint8 qh[4]; uint8 qs[16]} = 24 bytes; quants as Q5_0, unsigned; x = d * q + m
// (the product rounded first, as ggml).
template <> struct Fmt<T_Q5_1> {
    static constexpr int UNIT = 32, RUNS = 2, RUNLEN = 16, UNR = 2;
    struct Raw { uint32_t dm, qh, q[4]; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint32_t* blk = reinterpret_cast<const uint32_t*>(row + 24 * (size_t)u);
        Raw r;
        r.dm = __ldg(blk);
        r.qh = __ldg(blk + 1);
#pragma unroll
        for (int i = 0; i < 4; i++) r.q[i] = __ldg(blk + 2 + i);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        float d = h2f(r.dm), m = h2f(r.dm >> 16);
#pragma unroll
        for (int i = 0; i < 16; i++) {
            uint32_t b = ubyte(r.q[i >> 2], i & 3);
            w[i] = __fmul_rn(d, u2f((b & 0xF) | (((r.qh >> i) & 1) << 4))) + m;
            w[16 + i] = __fmul_rn(d, u2f((b >> 4) | (((r.qh >> (i + 16)) & 1) << 4))) + m;
        }
        off[0] = 32 * u;
        off[1] = 32 * u + 16;
    }
};

// Q2_K: {uint8 scales[16]; uint8 qs[64]; fp16 d; fp16 dmin} = 84 bytes, 256 elements in two halves of
// 128. In half n, qs[32n + l] holds elements 128n + 32g + l (g = 0..3) in its bit pairs 2g..2g+1; their
// sub-block is 8n + 2g + l/16, whose byte in scales has the 4-bit scale (low nibble) and min (high);
// x = (d * sc) * q - dmin * m. A unit is 8 positions l0..l0+7 of one half: 32 elements in four runs of 8.
template <> struct Fmt<T_Q2_K> {
    static constexpr int UNIT = 32, RUNS = 4, RUNLEN = 8, UNR = 2;
    struct Raw { uint32_t dd, q0, q1, sc0, sc1; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 84 * (size_t)(u >> 3);
        int k = u & 7, n = k >> 2, l0 = (k & 3) * 8;
        const uint32_t* w = reinterpret_cast<const uint32_t*>(blk);
        Raw r;
        r.dd = __ldg(w + 20);
        r.q0 = __ldg(w + 4 + 8 * n + (l0 >> 2));
        r.q1 = __ldg(w + 5 + 8 * n + (l0 >> 2));
        r.sc0 = __ldg(w + 2 * n);  // scales[8n..8n+7]: the unit's are bytes l0/16 + 0, 2, 4, 6
        r.sc1 = __ldg(w + 2 * n + 1);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        int k = u & 7, n = k >> 2, l0 = (k & 3) * 8, hi = l0 >> 4;
        float d = h2f(r.dd), dmin = h2f(r.dd >> 16);
        uint32_t sc[4] = {ubyte(r.sc0, hi), ubyte(r.sc0, hi + 2), ubyte(r.sc1, hi), ubyte(r.sc1, hi + 2)};
        uint32_t q[2] = {r.q0, r.q1};
#pragma unroll
        for (int g = 0; g < 4; g++) {
            float dl = d * u2f(sc[g] & 0xF), ml = dmin * u2f(sc[g] >> 4);
#pragma unroll
            for (int i = 0; i < 8; i++) {
                uint32_t b = ubyte(q[i >> 2], i & 3);
                w[8 * g + i] = __fmul_rn(dl, u2f((b >> (2 * g)) & 3)) - ml;
            }
        }
        int base = 256 * (u >> 3) + 128 * n + l0;
        off[0] = base;
        off[1] = base + 32;
        off[2] = base + 64;
        off[3] = base + 96;
    }
};

// Q3_K's 6-bit signed scale j (0..15) from the 12-byte field held in three words: low 4 bits in nibble
// j/8 of byte j%8, top 2 bits in bit pair j/4 of byte 8 + j%4, biased by 32.
__device__ __forceinline__ float q3k_scale(uint32_t s0, uint32_t s1, uint32_t s2, int j) {
    uint32_t lo = (kbyte(s0, s1, s2, j & 7) >> (4 * (j >> 3))) & 0xF;
    uint32_t hi = (kbyte(s0, s1, s2, 8 + (j & 3)) >> (2 * (j >> 2))) & 3;
    return u2f(lo | (hi << 4), 32.f);
}

// Q3_K: {uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; fp16 d} = 110 bytes, 256 elements in two halves
// of 128. Element 128n + 32g + l takes bit pair 2g of qs[32n + l] and bit 4n + g of hmask[l]; q = low2 - 4
// when that bit is clear, low2 when set; sub-block 8n + 2g + l/16; x = (d * sc) * q. A unit is 8 positions
// l0..l0+7 of one half: 32 elements in four runs of 8.
template <> struct Fmt<T_Q3_K> {
    static constexpr int UNIT = 32, RUNS = 4, RUNLEN = 8, UNR = 2;
    struct Raw { uint32_t d, q0, q1, h0, h1, s0, s1, s2; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 110 * (size_t)(u >> 3);
        int k = u & 7, n = k >> 2, l0 = (k & 3) * 8;
        Raw r;
        r.d = ld_u16(blk + 108);
        r.q0 = ld_u32_a2(blk + 32 + 32 * n + l0);
        r.q1 = ld_u32_a2(blk + 36 + 32 * n + l0);
        r.h0 = ld_u32_a2(blk + l0);
        r.h1 = ld_u32_a2(blk + l0 + 4);
        r.s0 = ld_u32_a2(blk + 96);
        r.s1 = ld_u32_a2(blk + 100);
        r.s2 = ld_u32_a2(blk + 104);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        int k = u & 7, n = k >> 2, l0 = (k & 3) * 8, hi = l0 >> 4;
        float d = h2f(r.d);
        uint32_t q[2] = {r.q0, r.q1}, h[2] = {r.h0, r.h1};
#pragma unroll
        for (int g = 0; g < 4; g++) {
            float dl = d * q3k_scale(r.s0, r.s1, r.s2, 8 * n + 2 * g + hi);
#pragma unroll
            for (int i = 0; i < 8; i++) {
                uint32_t b = ubyte(q[i >> 2], i & 3), m = ubyte(h[i >> 2], i & 3);
                w[8 * g + i] = dl * u2f(((b >> (2 * g)) & 3) | (((m >> (4 * n + g)) & 1) << 2), 4.f);
            }
        }
        int base = 256 * (u >> 3) + 128 * n + l0;
        off[0] = base;
        off[1] = base + 32;
        off[2] = base + 64;
        off[3] = base + 96;
    }
};

// IQ4_NL / IQ4_XS: a 4-bit code selects one of ggml's 16 non-linear levels (kvalues_iq4nl). The table is
// held as 16 signed bytes in four immediate words, and four codes are looked up at once with byte
// permutes (prmt): codes 0-7 from the first two words, 8-15 from the last two, then per byte the half
// that bit 3 of its code names. No memory access, and no divergence as a constant-memory table would
// have when a warp's lanes read different entries.
#define IQ4_T0 0xBFAD9881u  // -127, -104,  -83,  -65
#define IQ4_T1 0xF6EADDCFu  //  -49,  -35,  -22,  -10
#define IQ4_T2 0x26190D01u  //    1,   13,   25,   38
#define IQ4_T3 0x71594535u  //   53,   69,   89,  113

// The levels (signed bytes) of the four codes held in nibble `shift` / 4 of each byte of q.
__device__ __forceinline__ uint32_t iq4_levels4(uint32_t q, int shift) {
    uint32_t c = (q >> shift) & 0x0F0F0F0Fu;
    uint32_t c7 = c & 0x07070707u;
    uint32_t t = c7 | (c7 >> 4);                       // byte 0: c0 | c1 << 4, byte 2: c2 | c3 << 4
    uint32_t sel = (t & 0xFFu) | ((t >> 8) & 0xFF00u);  // one selector nibble per code
    uint32_t a = __byte_perm(IQ4_T0, IQ4_T1, sel);
    uint32_t b = __byte_perm(IQ4_T2, IQ4_T3, sel);
    uint32_t m = ((c >> 3) & 0x01010101u) * 0xFFu;     // 0xFF in the bytes whose code is 8-15
    return (a & ~m) | (b & m);
}

// IQ4_NL: {fp16 d; uint8 qs[16]} = 18 bytes, nibbles laid out as Q4_0; x = d * level.
template <> struct Fmt<T_IQ4_NL> {
    static constexpr int UNIT = 32, RUNS = 2, RUNLEN = 16, UNR = 2;
    struct Raw { uint32_t d, q[4]; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 18 * (size_t)u;
        Raw r;
        r.d = ld_u16(blk);
#pragma unroll
        for (int i = 0; i < 4; i++) r.q[i] = ld_u32_a2(blk + 2 + 4 * i);
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        float d = h2f(r.d);
#pragma unroll
        for (int j = 0; j < 4; j++) {
            uint32_t lo = iq4_levels4(r.q[j], 0), hi = iq4_levels4(r.q[j], 4);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                w[4 * j + i] = d * (float)sbyte(lo, i);
                w[16 + 4 * j + i] = d * (float)sbyte(hi, i);
            }
        }
        off[0] = 32 * u;
        off[1] = 32 * u + 16;
    }
};

// IQ4_XS: {fp16 d; uint16 scales_h; uint8 scales_l[4]; uint8 qs[128]} = 136 bytes, 256 elements in eight
// sub-blocks of 32. Sub-block ib's 6-bit scale: nibble ib % 2 of scales_l[ib / 2], top bits from bit pair
// ib of scales_h, biased by 32; its codes are qs[16ib..16ib+15] laid out as an IQ4_NL block; x = (d * sc)
// * level. A unit is 8 quant bytes of one sub-block: 8 low + 8 high elements.
template <> struct Fmt<T_IQ4_XS> {
    static constexpr int UNIT = 16, RUNS = 2, RUNLEN = 8, UNR = 4;
    struct Raw { uint32_t dh, sl; uint2 q; };
    __device__ __forceinline__ static Raw fetch(const uint8_t* row, int u) {
        const uint8_t* blk = row + 136 * (size_t)(u >> 4);
        int k = u & 15, ib = k >> 1, l0 = (k & 1) * 8;
        const uint32_t* w = reinterpret_cast<const uint32_t*>(blk);
        Raw r;
        r.dh = __ldg(w);
        r.sl = __ldg(w + 1);
        r.q = __ldg(reinterpret_cast<const uint2*>(blk + 8 + 16 * ib + l0));
        return r;
    }
    __device__ __forceinline__ static void decode(const Raw& r, int u, float* w, int* off) {
        int k = u & 15, ib = k >> 1, l0 = (k & 1) * 8;
        float ls = u2f(((r.sl >> (4 * ib)) & 0xF) | (((r.dh >> (16 + 2 * ib)) & 3) << 4), 32.f);
        float dl = h2f(r.dh) * ls;
        uint32_t qw[2] = {r.q.x, r.q.y};
#pragma unroll
        for (int j = 0; j < 2; j++) {
            uint32_t lo = iq4_levels4(qw[j], 0), hi = iq4_levels4(qw[j], 4);
#pragma unroll
            for (int i = 0; i < 4; i++) {
                w[4 * j + i] = dl * (float)sbyte(lo, i);
                w[8 + 4 * j + i] = dl * (float)sbyte(hi, i);
            }
        }
        int base = 256 * (u >> 4) + 32 * ib + l0;
        off[0] = base;
        off[1] = base + 16;
    }
};

// One unit decoded in place (embedding gather, fp16 dequantization).
template <int TYPE>
__device__ __forceinline__ void load_unit(const uint8_t* row, int u, float* w, int* off) {
    typename Fmt<TYPE>::Raw r = Fmt<TYPE>::fetch(row, u);
    Fmt<TYPE>::decode(r, u, w, off);
}

package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q5_K: super-blocks of 256 values in 176 bytes,
 * {@code half d; half dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]}. As Q4_K, plus a fifth
 * bit per value: bit {@code j} of {@code qh[l]} is the high bit of value {@code l} of sub-block
 * {@code j}. A value is {@code (d·sc)·(q4 + 16·h) - (dmin·m)}.
 */
class ScalarQ5KKernel implements RowKernel {
    static final int QK = 256;
    static final int BLOCK_BYTES = 176;
    static final int SCALES = 4;
    static final int QH = 16;
    static final int QS = 48;

    @Override
    public GgmlType type() {
        return GgmlType.Q5_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            float dmin = Le.half(src, bo + 2);
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int c = src.get(Le.INT, bo + SCALES + 8);
            long sc = KScales.scales(a, bb, c);
            long mn = KScales.mins(a, bb, c);
            int y = dstOffset + b * QK;
            for (int p = 0; p < 4; p++) {
                float d1 = d * KScales.get(sc, 2 * p);
                float m1 = dmin * KScales.get(mn, 2 * p);
                float d2 = d * KScales.get(sc, 2 * p + 1);
                float m2 = dmin * KScales.get(mn, 2 * p + 1);
                long qo = bo + QS + 32 * p;
                for (int l = 0; l < 32; l++) {
                    int q = src.get(Le.BYTE, qo + l);
                    int h = src.get(Le.BYTE, bo + QH + l) >> (2 * p);
                    dst[y + 64 * p + l] = d1 * ((q & 0xf) | ((h & 1) << 4)) - m1;
                    dst[y + 64 * p + 32 + l] = d2 * (((q >> 4) & 0xf) | ((h & 2) << 3)) - m2;
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_K, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            float dmin = Le.half(src, bo + 2);
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int c = src.get(Le.INT, bo + SCALES + 8);
            long sc = KScales.scales(a, bb, c);
            long mn = KScales.mins(a, bb, c);
            int xb = xOffset + b * QK;
            for (int p = 0; p < 4; p++) {
                long qo = bo + QS + 32 * p;
                int x0 = xb + 64 * p;
                float qxLo = 0, qxHi = 0, xLo = 0, xHi = 0;
                for (int l = 0; l < 32; l++) {
                    int q = src.get(Le.BYTE, qo + l);
                    int h = src.get(Le.BYTE, bo + QH + l) >> (2 * p);
                    float xl = x[x0 + l];
                    float xh = x[x0 + 32 + l];
                    qxLo += ((q & 0xf) | ((h & 1) << 4)) * xl;
                    qxHi += (((q >> 4) & 0xf) | ((h & 2) << 3)) * xh;
                    xLo += xl;
                    xHi += xh;
                }
                sum += d * KScales.get(sc, 2 * p) * qxLo - dmin * KScales.get(mn, 2 * p) * xLo
                        + d * KScales.get(sc, 2 * p + 1) * qxHi - dmin * KScales.get(mn, 2 * p + 1) * xHi;
            }
        }
        return sum;
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_K, n);
        KQuantizer.Asymmetric fit = new KQuantizer.Asymmetric();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            KQuantizer.fitAsymmetric(src, srcOffset + b * QK, 31, fit);
            Le.putHalf(dst, bo, fit.d);
            Le.putHalf(dst, bo + 2, fit.dmin);
            KScales.encode(fit.sc, fit.m, dst, bo + SCALES);
            for (int l = 0; l < 32; l++) {
                int h = 0;
                for (int j = 0; j < 8; j++) {
                    h |= (fit.q[32 * j + l] >> 4) << j;
                }
                dst.set(Le.BYTE, bo + QH + l, (byte) h);
            }
            for (int p = 0; p < 4; p++) {
                for (int l = 0; l < 32; l++) {
                    int lo = fit.q[64 * p + l] & 0xf;
                    int hi = fit.q[64 * p + 32 + l] & 0xf;
                    dst.set(Le.BYTE, bo + QS + 32 * p + l, (byte) (lo | (hi << 4)));
                }
            }
        }
    }
}

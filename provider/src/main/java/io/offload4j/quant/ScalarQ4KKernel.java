package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q4_K: super-blocks of 256 values in 144 bytes,
 * {@code half d; half dmin; uint8 scales[12]; uint8 qs[128]}. Eight sub-blocks of 32 values, each with
 * a 6-bit scale {@code sc} and 6-bit min {@code m} ({@link KScales}). Sub-blocks {@code 2p} and
 * {@code 2p+1} share the 32 bytes {@code qs[32p..32p+31]}: low nibbles for the first, high nibbles for
 * the second. A value is {@code (d·sc)·q - (dmin·m)}.
 */
class ScalarQ4KKernel implements RowKernel {
    static final int QK = 256;
    static final int BLOCK_BYTES = 144;
    static final int SCALES = 4;
    static final int QS = 16;

    @Override
    public GgmlType type() {
        return GgmlType.Q4_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_K, n);
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
                // d·sc and dmin·m are rounded to float first, exactly as ggml does.
                float d1 = d * KScales.get(sc, 2 * p);
                float m1 = dmin * KScales.get(mn, 2 * p);
                float d2 = d * KScales.get(sc, 2 * p + 1);
                float m2 = dmin * KScales.get(mn, 2 * p + 1);
                long qo = bo + QS + 32 * p;
                for (int l = 0; l < 32; l++) {
                    int q = src.get(Le.BYTE, qo + l);
                    dst[y + 64 * p + l] = d1 * (q & 0xf) - m1;
                    dst[y + 64 * p + 32 + l] = d2 * ((q >> 4) & 0xf) - m2;
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_K, n);
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
                // Σ (s·q - m)·x = s·Σ q·x - m·Σ x, per sub-block.
                float qxLo = 0, qxHi = 0, xLo = 0, xHi = 0;
                for (int l = 0; l < 32; l++) {
                    int q = src.get(Le.BYTE, qo + l);
                    float xl = x[x0 + l];
                    float xh = x[x0 + 32 + l];
                    qxLo += (q & 0xf) * xl;
                    qxHi += ((q >> 4) & 0xf) * xh;
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
        int nb = Rows.blocks(GgmlType.Q4_K, n);
        KQuantizer.Asymmetric fit = new KQuantizer.Asymmetric();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            KQuantizer.fitAsymmetric(src, srcOffset + b * QK, 15, fit);
            Le.putHalf(dst, bo, fit.d);
            Le.putHalf(dst, bo + 2, fit.dmin);
            KScales.encode(fit.sc, fit.m, dst, bo + SCALES);
            for (int p = 0; p < 4; p++) {
                for (int l = 0; l < 32; l++) {
                    int lo = fit.q[64 * p + l];
                    int hi = fit.q[64 * p + 32 + l];
                    dst.set(Le.BYTE, bo + QS + 32 * p + l, (byte) (lo | (hi << 4)));
                }
            }
        }
    }
}

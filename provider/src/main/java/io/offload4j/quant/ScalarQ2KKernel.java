package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q2_K: super-blocks of 256 values in 84 bytes, {@code uint8 scales[16]; uint8 qs[64]; half d; half dmin}.
 * Sixteen sub-blocks of 16 values; byte {@code j} of {@code scales} holds sub-block {@code j}'s 4-bit scale
 * (low nibble) and 4-bit min (high nibble). Each half {@code h} of the super-block (128 values) uses
 * {@code qs[32h..32h+31]}: value {@code 128h + 32s + l} is bits {@code 2s..2s+1} of {@code qs[32h + l]}
 * ({@code s} = 0..3, {@code l} = 0..31), in sub-block {@code 8h + 2s + l/16}. A value is
 * {@code (d·sc)·q - (dmin·m)}.
 */
class ScalarQ2KKernel implements RowKernel {
    static final int QK = 256;
    static final int BLOCK_BYTES = 84;
    static final int QS = 16;
    static final int D = 80;
    static final int DMIN = 82;

    @Override
    public GgmlType type() {
        return GgmlType.Q2_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q2_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo + D);
            float dmin = Le.half(src, bo + DMIN);
            for (int h = 0; h < 2; h++) {
                long qs = bo + QS + 32 * h;
                for (int s = 0; s < 4; s++) {
                    int y = dstOffset + b * QK + 128 * h + 32 * s;
                    for (int half = 0; half < 2; half++) {
                        int sc = src.get(Le.BYTE, bo + 8 * h + 2 * s + half) & 0xff;
                        // d·sc and dmin·m are rounded to float first, exactly as ggml does.
                        float dl = d * (sc & 0xf);
                        float ml = dmin * (sc >> 4);
                        for (int l = 16 * half; l < 16 * half + 16; l++) {
                            dst[y + l] = dl * ((src.get(Le.BYTE, qs + l) >> (2 * s)) & 3) - ml;
                        }
                    }
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q2_K, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            // Σ (d·sc·q - dmin·m)·x = d·Σ_j sc_j·Σ q·x - dmin·Σ_j m_j·Σ x, per sub-block j.
            float qxSum = 0;
            float xSum = 0;
            for (int h = 0; h < 2; h++) {
                long qs = bo + QS + 32 * h;
                for (int s = 0; s < 4; s++) {
                    int x0 = xOffset + b * QK + 128 * h + 32 * s;
                    for (int half = 0; half < 2; half++) {
                        int sc = src.get(Le.BYTE, bo + 8 * h + 2 * s + half) & 0xff;
                        float qx = 0;
                        float sx = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++) {
                            float xv = x[x0 + l];
                            qx += ((src.get(Le.BYTE, qs + l) >> (2 * s)) & 3) * xv;
                            sx += xv;
                        }
                        qxSum += (sc & 0xf) * qx;
                        xSum += (sc >> 4) * sx;
                    }
                }
            }
            sum += Le.half(src, bo + D) * qxSum - Le.half(src, bo + DMIN) * xSum;
        }
        return sum;
    }

    /** A simple min/max fit (see {@link LowBitQuantizer#fitQ2K}), not llama-quantize's search. */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q2_K, n);
        LowBitQuantizer.Fit fit = new LowBitQuantizer.Fit();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            LowBitQuantizer.fitQ2K(src, srcOffset + b * QK, fit);
            for (int j = 0; j < 16; j++) {
                dst.set(Le.BYTE, bo + j, (byte) (fit.sc[j] | (fit.m[j] << 4)));
            }
            for (int h = 0; h < 2; h++) {
                for (int l = 0; l < 32; l++) {
                    int e = 128 * h + l;
                    int q = fit.q[e] | (fit.q[e + 32] << 2) | (fit.q[e + 64] << 4) | (fit.q[e + 96] << 6);
                    dst.set(Le.BYTE, bo + QS + 32 * h + l, (byte) q);
                }
            }
            Le.putHalf(dst, bo + D, fit.d);
            Le.putHalf(dst, bo + DMIN, fit.dmin);
        }
    }
}

package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * IQ4_XS: super-blocks of 256 values in 136 bytes, {@code half d; uint16 scales_h; uint8 scales_l[4];
 * uint8 qs[128]}. Eight sub-blocks of 32 values, each with a signed 6-bit scale: the low 4 bits are nibble
 * {@code ib % 2} of {@code scales_l[ib / 2]}, the top 2 bits are bits {@code 2ib..2ib+1} of {@code scales_h},
 * the whole biased by 32. Sub-block {@code ib} takes its codes from {@code qs[16ib..16ib+15]} laid out as an
 * IQ4_NL block; a value is {@code (d·sc)·level} with {@link Iq4Values#LEVELS}.
 */
class ScalarIq4XsKernel implements RowKernel {
    static final int QK = 256;
    static final int BLOCK_BYTES = 136;
    static final int SCALES_H = 2;
    static final int SCALES_L = 4;
    static final int QS = 8;

    @Override
    public GgmlType type() {
        return GgmlType.IQ4_XS;
    }

    /**
     * The eight signed sub-block scales of the super-block whose {@code scales_h} word is {@code h} and whose
     * {@code scales_l} bytes are the int {@code l}; scale {@code ib} is {@link #scale}{@code (packed, ib)}.
     */
    static long scales(int h, int l) {
        // Interleave: low nibbles of l's bytes are scales 0, 2, 4, 6; high nibbles 1, 3, 5, 7.
        long packed = 0;
        for (int ib = 0; ib < 8; ib++) {
            int v = ((l >>> (4 * ib)) & 0xf) | (((h >>> (2 * ib)) & 3) << 4);
            packed |= (long) v << (8 * ib);
        }
        return packed;
    }

    static int scale(long packed, int ib) {
        return ((int) (packed >>> (ib << 3)) & 0x3f) - 32;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_XS, n);
        byte[] levels = Iq4Values.LEVELS;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            long sc = scales(src.get(Le.SHORT, bo + SCALES_H), src.get(Le.INT, bo + SCALES_L));
            for (int ib = 0; ib < 8; ib++) {
                // d·sc is rounded to float first, exactly as ggml does.
                float dl = d * scale(sc, ib);
                long qs = bo + QS + 16 * ib;
                int y = dstOffset + b * QK + 32 * ib;
                for (int j = 0; j < 16; j++) {
                    int q = src.get(Le.BYTE, qs + j);
                    dst[y + j] = dl * levels[q & 0xf];
                    dst[y + j + 16] = dl * levels[(q >> 4) & 0xf];
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_XS, n);
        byte[] levels = Iq4Values.LEVELS;
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            long sc = scales(src.get(Le.SHORT, bo + SCALES_H), src.get(Le.INT, bo + SCALES_L));
            float blockSum = 0;
            for (int ib = 0; ib < 8; ib++) {
                long qs = bo + QS + 16 * ib;
                int xi = xOffset + b * QK + 32 * ib;
                float s = 0;
                for (int j = 0; j < 16; j++) {
                    int q = src.get(Le.BYTE, qs + j);
                    s += levels[q & 0xf] * x[xi + j] + levels[(q >> 4) & 0xf] * x[xi + j + 16];
                }
                blockSum += scale(sc, ib) * s;
            }
            sum += Le.half(src, bo) * blockSum;
        }
        return sum;
    }

    /** A simple fit (see {@link LowBitQuantizer#fitIq4Xs}), not llama-quantize's search. */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_XS, n);
        LowBitQuantizer.Fit fit = new LowBitQuantizer.Fit();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            LowBitQuantizer.fitIq4Xs(src, srcOffset + b * QK, fit);
            Le.putHalf(dst, bo, fit.d);
            int h = 0;
            int l = 0;
            for (int ib = 0; ib < 8; ib++) {
                int v = fit.sc[ib] + 32;
                l |= (v & 0xf) << (4 * ib);
                h |= (v >> 4) << (2 * ib);
            }
            dst.set(Le.SHORT, bo + SCALES_H, (short) h);
            dst.set(Le.INT, bo + SCALES_L, l);
            for (int ib = 0; ib < 8; ib++) {
                for (int j = 0; j < 16; j++) {
                    int lo = fit.q[32 * ib + j];
                    int hi = fit.q[32 * ib + 16 + j];
                    dst.set(Le.BYTE, bo + QS + 16 * ib + j, (byte) (lo | (hi << 4)));
                }
            }
        }
    }
}

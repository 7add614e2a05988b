package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * IQ4_NL: blocks of 32 values in 18 bytes, {@code half d; uint8 qs[16]}: the layout of Q4_0 (byte
 * {@code j} holds value {@code j} in its low nibble and value {@code j + 16} in its high nibble), but
 * a nibble is a code into the non-linear table {@link Iq4Values#LEVELS}; a value is {@code d * level}.
 */
class ScalarIq4NlKernel implements RowKernel {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;

    @Override
    public GgmlType type() {
        return GgmlType.IQ4_NL;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_NL, n);
        byte[] levels = Iq4Values.LEVELS;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            int y = dstOffset + b * QK;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + 2 + j);
                dst[y + j] = d * levels[q & 0xf];
                dst[y + j + 16] = d * levels[(q >> 4) & 0xf];
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_NL, n);
        byte[] levels = Iq4Values.LEVELS;
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            float s = 0;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + 2 + j);
                s += levels[q & 0xf] * x[xi + j] + levels[(q >> 4) & 0xf] * x[xi + j + 16];
            }
            sum += Le.half(src, bo) * s;
        }
        return sum;
    }

    /**
     * {@code d = m / -127} where {@code m} is the value of largest magnitude (so it maps exactly to the
     * outermost level), then the nearest level for each value. ggml's quantizer also searches nearby
     * scales; this simpler one is for synthetic models.
     */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_NL, n);
        for (int b = 0; b < nb; b++) {
            int xi = srcOffset + b * QK;
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.roundToHalf(LowBitQuantizer.signedMax(src, xi, QK) / -127);
            Le.putHalf(dst, bo, d);
            float id = d != 0 ? 1 / d : 0;
            for (int j = 0; j < 16; j++) {
                int lo = Iq4Values.nearest(src[xi + j] * id);
                int hi = Iq4Values.nearest(src[xi + j + 16] * id);
                dst.set(Le.BYTE, bo + 2 + j, (byte) (lo | (hi << 4)));
            }
        }
    }
}

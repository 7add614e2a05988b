package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q5_0: blocks of 32 values in 22 bytes, {@code half d; uint8 qh[4]; uint8 qs[16]}. As Q4_0 with a
 * fifth bit: {@code qh} read as a little-endian 32-bit word holds bit 4 of value {@code j} in its bit
 * {@code j}. Byte {@code j} of {@code qs} holds the low 4 bits of value {@code j} (low nibble) and of
 * value {@code j + 16} (high nibble); a value is {@code d * (q - 16)}.
 */
class ScalarQ5_0Kernel implements RowKernel {
    static final int QK = 32;
    static final int BLOCK_BYTES = 22;
    static final int QH = 2;
    static final int QS = 6;

    @Override
    public GgmlType type() {
        return GgmlType.Q5_0;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_0, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            int qh = src.get(Le.INT, bo + QH);
            int y = dstOffset + b * QK;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + QS + j);
                dst[y + j] = ((q & 0xf | ((qh >>> j) & 1) << 4) - 16) * d;
                dst[y + j + 16] = (((q >> 4) & 0xf | ((qh >>> (j + 16)) & 1) << 4) - 16) * d;
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_0, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int qh = src.get(Le.INT, bo + QH);
            int xi = xOffset + b * QK;
            float s = 0;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + QS + j);
                s += ((q & 0xf | ((qh >>> j) & 1) << 4) - 16) * x[xi + j]
                        + (((q >> 4) & 0xf | ((qh >>> (j + 16)) & 1) << 4) - 16) * x[xi + j + 16];
            }
            sum += Le.half(src, bo) * s;
        }
        return sum;
    }

    /**
     * ggml's {@code quantize_row_q5_0_ref}: {@code d = m / -16} where {@code m} is the value of largest
     * magnitude, then {@code q = min(31, trunc(x / d + 16.5))}, the product formed in double as in
     * {@link ScalarQ4_0Kernel#quantize}.
     */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_0, n);
        for (int b = 0; b < nb; b++) {
            int xi = srcOffset + b * QK;
            long bo = offset + (long) b * BLOCK_BYTES;
            float amax = 0;
            float max = 0;
            for (int i = 0; i < QK; i++) {
                float v = src[xi + i];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -16;
            float id = d != 0 ? 1 / d : 0;
            Le.putHalf(dst, bo, d);
            int qh = 0;
            for (int j = 0; j < 16; j++) {
                int lo = Math.min(31, (int) ((double) src[xi + j] * id + 16.5));
                int hi = Math.min(31, (int) ((double) src[xi + j + 16] * id + 16.5));
                dst.set(Le.BYTE, bo + QS + j, (byte) ((lo & 0xf) | ((hi & 0xf) << 4)));
                qh |= (lo >> 4) << j | (hi >> 4) << (j + 16);
            }
            dst.set(Le.INT, bo + QH, qh);
        }
    }
}

package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q4_0: blocks of 32 values in 18 bytes, {@code half d; uint8 qs[16]}. Byte {@code j} holds value
 * {@code j} in its low nibble and value {@code j + 16} in its high nibble; a value is {@code d * (q - 8)}.
 */
class ScalarQ4_0Kernel implements RowKernel {
    static final int QK = 32;
    static final int BLOCK_BYTES = 18;

    @Override
    public GgmlType type() {
        return GgmlType.Q4_0;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            int y = dstOffset + b * QK;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + 2 + j);
                dst[y + j] = ((q & 0xf) - 8) * d;
                dst[y + j + 16] = (((q >> 4) & 0xf) - 8) * d;
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            float s = 0;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + 2 + j);
                s += ((q & 0xf) - 8) * x[xi + j] + (((q >> 4) & 0xf) - 8) * x[xi + j + 16];
            }
            sum += Le.half(src, bo) * s;
        }
        return sum;
    }

    /**
     * ggml's {@code quantize_row_q4_0_ref}: {@code d = m / -8} where {@code m} is the value of largest
     * magnitude (so it maps to quant 0, and the other side gets the extra level), then
     * {@code q = min(15, trunc(x / d + 8.5))}. The product is formed in double, as gguf-py does to
     * reproduce the fused multiply-add of the compiled C reference.
     */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
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
            float d = max / -8;
            float id = d != 0 ? 1 / d : 0;
            Le.putHalf(dst, bo, d);
            for (int j = 0; j < 16; j++) {
                int lo = Math.min(15, (int) ((double) src[xi + j] * id + 8.5));
                int hi = Math.min(15, (int) ((double) src[xi + j + 16] * id + 8.5));
                dst.set(Le.BYTE, bo + 2 + j, (byte) (lo | (hi << 4)));
            }
        }
    }
}

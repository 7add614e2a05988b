package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q4_1: blocks of 32 values in 20 bytes, {@code half d; half m; uint8 qs[16]}. Byte {@code j} holds
 * value {@code j} in its low nibble and value {@code j + 16} in its high nibble; a value is
 * {@code d * q + m}.
 */
class ScalarQ4_1Kernel implements RowKernel {
    static final int QK = 32;
    static final int BLOCK_BYTES = 20;

    @Override
    public GgmlType type() {
        return GgmlType.Q4_1;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_1, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            float m = Le.half(src, bo + 2);
            int y = dstOffset + b * QK;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + 4 + j);
                dst[y + j] = (q & 0xf) * d + m;
                dst[y + j + 16] = ((q >> 4) & 0xf) * d + m;
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_1, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            // Σ (d·q + m)·x = d·Σ q·x + m·Σ x
            float sq = 0;
            float sx = 0;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + 4 + j);
                float x0 = x[xi + j];
                float x1 = x[xi + j + 16];
                sq += (q & 0xf) * x0 + ((q >> 4) & 0xf) * x1;
                sx += x0 + x1;
            }
            sum += Le.half(src, bo) * sq + Le.half(src, bo + 2) * sx;
        }
        return sum;
    }

    /**
     * ggml's {@code quantize_row_q4_1_ref}: {@code d = (max - min) / 15}, {@code m = min},
     * {@code q = min(15, trunc((x - min) / d + 0.5))}.
     */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_1, n);
        for (int b = 0; b < nb; b++) {
            int xi = srcOffset + b * QK;
            long bo = offset + (long) b * BLOCK_BYTES;
            float min = Float.POSITIVE_INFINITY;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < QK; i++) {
                min = Math.min(min, src[xi + i]);
                max = Math.max(max, src[xi + i]);
            }
            float d = (max - min) / 15;
            float id = d != 0 ? 1 / d : 0;
            Le.putHalf(dst, bo, d);
            Le.putHalf(dst, bo + 2, min);
            for (int j = 0; j < 16; j++) {
                int lo = Math.min(15, (int) ((src[xi + j] - min) * id + 0.5f));
                int hi = Math.min(15, (int) ((src[xi + j + 16] - min) * id + 0.5f));
                dst.set(Le.BYTE, bo + 4 + j, (byte) (lo | (hi << 4)));
            }
        }
    }
}

package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q5_1: blocks of 32 values in 24 bytes, {@code half d; half m; uint8 qh[4]; uint8 qs[16]}. Quants
 * are laid out as in Q5_0 (see {@link ScalarQ5_0Kernel}), unsigned; a value is {@code d * q + m}.
 */
class ScalarQ5_1Kernel implements RowKernel {
    static final int QK = 32;
    static final int BLOCK_BYTES = 24;
    static final int QH = 4;
    static final int QS = 8;

    @Override
    public GgmlType type() {
        return GgmlType.Q5_1;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_1, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            float m = Le.half(src, bo + 2);
            int qh = src.get(Le.INT, bo + QH);
            int y = dstOffset + b * QK;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + QS + j);
                // d·q rounded, then + m rounded: not a fused multiply-add, exactly as ggml.
                dst[y + j] = (q & 0xf | ((qh >>> j) & 1) << 4) * d + m;
                dst[y + j + 16] = ((q >> 4) & 0xf | ((qh >>> (j + 16)) & 1) << 4) * d + m;
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_1, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int qh = src.get(Le.INT, bo + QH);
            int xi = xOffset + b * QK;
            // Σ (d·q + m)·x = d·Σ q·x + m·Σ x
            float sq = 0;
            float sx = 0;
            for (int j = 0; j < 16; j++) {
                int q = src.get(Le.BYTE, bo + QS + j);
                float x0 = x[xi + j];
                float x1 = x[xi + j + 16];
                sq += (q & 0xf | ((qh >>> j) & 1) << 4) * x0 + ((q >> 4) & 0xf | ((qh >>> (j + 16)) & 1) << 4) * x1;
                sx += x0 + x1;
            }
            sum += Le.half(src, bo) * sq + Le.half(src, bo + 2) * sx;
        }
        return sum;
    }

    /**
     * ggml's {@code quantize_row_q5_1_ref}: {@code d = (max - min) / 31}, {@code m = min},
     * {@code q = min(31, trunc((x - min) / d + 0.5))}.
     */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_1, n);
        for (int b = 0; b < nb; b++) {
            int xi = srcOffset + b * QK;
            long bo = offset + (long) b * BLOCK_BYTES;
            float min = Float.POSITIVE_INFINITY;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < QK; i++) {
                min = Math.min(min, src[xi + i]);
                max = Math.max(max, src[xi + i]);
            }
            float d = (max - min) / 31;
            float id = d != 0 ? 1 / d : 0;
            Le.putHalf(dst, bo, d);
            Le.putHalf(dst, bo + 2, min);
            int qh = 0;
            for (int j = 0; j < 16; j++) {
                int lo = Math.min(31, (int) ((src[xi + j] - min) * id + 0.5f));
                int hi = Math.min(31, (int) ((src[xi + j + 16] - min) * id + 0.5f));
                dst.set(Le.BYTE, bo + QS + j, (byte) ((lo & 0xf) | ((hi & 0xf) << 4)));
                qh |= (lo >> 4) << j | (hi >> 4) << (j + 16);
            }
            dst.set(Le.INT, bo + QH, qh);
        }
    }
}

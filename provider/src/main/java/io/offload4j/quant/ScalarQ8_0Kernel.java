package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q8_0: blocks of 32 values in 34 bytes, {@code half d; int8 qs[32]}; value {@code i} is {@code d * qs[i]}.
 */
class ScalarQ8_0Kernel implements RowKernel {
    static final int QK = 32;
    static final int BLOCK_BYTES = 34;

    @Override
    public GgmlType type() {
        return GgmlType.Q8_0;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            int y = dstOffset + b * QK;
            for (int i = 0; i < QK; i++) {
                dst[y + i] = src.get(Le.BYTE, bo + 2 + i) * d;
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            // Scale once per block: d * Σ q·x rather than Σ (d·q)·x.
            float s = 0;
            for (int i = 0; i < QK; i++) {
                s += src.get(Le.BYTE, bo + 2 + i) * x[xi + i];
            }
            sum += Le.half(src, bo) * s;
        }
        return sum;
    }

    /**
     * ggml's {@code quantize_row_q8_0_ref}: {@code d = max|x| / 127}, {@code q = roundf(x / d)}. The
     * quants are computed from the float {@code d}; the stored scale is {@code d} rounded to half.
     */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        for (int b = 0; b < nb; b++) {
            int xi = srcOffset + b * QK;
            long bo = offset + (long) b * BLOCK_BYTES;
            float amax = 0;
            for (int i = 0; i < QK; i++) {
                amax = Math.max(amax, Math.abs(src[xi + i]));
            }
            float d = amax / 127;
            float id = d != 0 ? 1 / d : 0;
            Le.putHalf(dst, bo, d);
            for (int i = 0; i < QK; i++) {
                dst.set(Le.BYTE, bo + 2 + i, (byte) QuantMath.roundAway(src[xi + i] * id));
            }
        }
    }
}

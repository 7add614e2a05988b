package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/** BF16 rows: the top 16 bits of an IEEE float, little-endian. */
class ScalarBf16Kernel implements RowKernel {

    @Override
    public GgmlType type() {
        return GgmlType.BF16;
    }

    static float toFloat(short bits) {
        return Float.intBitsToFloat(bits << 16);
    }

    /**
     * ggml's {@code ggml_compute_fp32_to_bf16}: NaN stays NaN (forced quiet, so that truncating the
     * payload cannot turn it into infinity); everything else rounds to nearest, ties to even.
     */
    static short fromFloat(float v) {
        int bits = Float.floatToRawIntBits(v);
        if ((bits & 0x7fffffff) > 0x7f800000) {
            return (short) ((bits >>> 16) | 0x40);
        }
        // Cannot overflow into the sign: only NaN bit patterns are that close to 0xffffffff.
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        Rows.blocks(GgmlType.BF16, n);
        for (int i = 0; i < n; i++) {
            dst[dstOffset + i] = toFloat(src.get(Le.SHORT, offset + 2L * i));
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        Rows.blocks(GgmlType.BF16, n);
        float sum = 0;
        for (int i = 0; i < n; i++) {
            sum += toFloat(src.get(Le.SHORT, offset + 2L * i)) * x[xOffset + i];
        }
        return sum;
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        Rows.blocks(GgmlType.BF16, n);
        for (int i = 0; i < n; i++) {
            dst.set(Le.SHORT, offset + 2L * i, fromFloat(src[srcOffset + i]));
        }
    }
}

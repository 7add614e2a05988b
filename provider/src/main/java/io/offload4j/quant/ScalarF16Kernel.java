package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/** F16 rows: IEEE binary16 values, little-endian. */
class ScalarF16Kernel implements RowKernel {

    @Override
    public GgmlType type() {
        return GgmlType.F16;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        Rows.blocks(GgmlType.F16, n);
        for (int i = 0; i < n; i++) {
            dst[dstOffset + i] = Float.float16ToFloat(src.get(Le.SHORT, offset + 2L * i));
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        Rows.blocks(GgmlType.F16, n);
        float sum = 0;
        for (int i = 0; i < n; i++) {
            sum += Float.float16ToFloat(src.get(Le.SHORT, offset + 2L * i)) * x[xOffset + i];
        }
        return sum;
    }

    /** Round to nearest even, as ggml's {@code GGML_FP32_TO_FP16}. */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        Rows.blocks(GgmlType.F16, n);
        for (int i = 0; i < n; i++) {
            dst.set(Le.SHORT, offset + 2L * i, Float.floatToFloat16(src[srcOffset + i]));
        }
    }
}

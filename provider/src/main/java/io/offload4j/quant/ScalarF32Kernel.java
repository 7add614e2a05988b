package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/** F32 rows: plain little-endian floats. */
class ScalarF32Kernel implements RowKernel {

    @Override
    public GgmlType type() {
        return GgmlType.F32;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        Rows.blocks(GgmlType.F32, n);
        MemorySegment.copy(src, Le.FLOAT, offset, dst, dstOffset, n);
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        Rows.blocks(GgmlType.F32, n);
        float sum = 0;
        for (int i = 0; i < n; i++) {
            sum += src.get(Le.FLOAT, offset + 4L * i) * x[xOffset + i];
        }
        return sum;
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        Rows.blocks(GgmlType.F32, n);
        MemorySegment.copy(src, srcOffset, dst, Le.FLOAT, offset, n);
    }
}

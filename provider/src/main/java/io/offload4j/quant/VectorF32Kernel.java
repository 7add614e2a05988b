package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.LE;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** F32 rows on the Vector API (dequantize is a plain copy, inherited). */
final class VectorF32Kernel extends ScalarF32Kernel {

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        Rows.blocks(GgmlType.F32, n);
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F);
        FloatVector acc3 = FloatVector.zero(F);
        int i = 0;
        for (int end = n - 4 * L; i <= end; i += 4 * L) {
            long o = offset + 4L * i;
            acc0 = FloatVector.fromMemorySegment(F, src, o, LE).fma(FloatVector.fromArray(F, x, xOffset + i), acc0);
            acc1 = FloatVector.fromMemorySegment(F, src, o + 4L * L,
                    LE).fma(FloatVector.fromArray(F, x, xOffset + i + L), acc1);
            acc2 = FloatVector.fromMemorySegment(F, src, o + 8L * L,
                    LE).fma(FloatVector.fromArray(F, x, xOffset + i + 2 * L), acc2);
            acc3 = FloatVector.fromMemorySegment(F, src, o + 12L * L,
                    LE).fma(FloatVector.fromArray(F, x, xOffset + i + 3 * L), acc3);
        }
        for (int end = n - L; i <= end; i += L) {
            acc0 = FloatVector.fromMemorySegment(F, src, offset + 4L * i,
                    LE).fma(FloatVector.fromArray(F, x, xOffset + i), acc0);
        }
        float sum = acc0.add(acc1).add(acc2.add(acc3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += src.get(Le.FLOAT, offset + 4L * i) * x[xOffset + i];
        }
        return sum;
    }
}

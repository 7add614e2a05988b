package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.LE;
import static io.offload4j.quant.VectorKernels.S;
import static io.offload4j.quant.VectorKernels.shortsToInts;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;

/** BF16 rows on the Vector API: widen to int lanes, shift left 16, reinterpret as float. */
final class VectorBf16Kernel extends ScalarBf16Kernel {

    private static FloatVector decode(MemorySegment src, long offset) {
        return shortsToInts(src, offset).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        Rows.blocks(GgmlType.BF16, n);
        int i = 0;
        for (int end = n - L; i <= end; i += L) {
            decode(src, offset + 2L * i).intoArray(dst, dstOffset + i);
        }
        for (; i < n; i++) {
            dst[dstOffset + i] = toFloat(src.get(Le.SHORT, offset + 2L * i));
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        Rows.blocks(GgmlType.BF16, n);
        // Vector API calls written out, not through decode or VectorKernels' helpers: see VectorKernels, "entry points".
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int i = 0;
        for (int end = n - 2 * L; i <= end; i += 2 * L) {
            long o = offset + 2L * i;
            acc0 = ((IntVector) ShortVector.fromMemorySegment(S, src, o, LE).castShape(I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOffset + i), acc0);
            acc1 = ((IntVector) ShortVector.fromMemorySegment(S, src, o + 2L * L, LE).castShape(I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOffset + i + L), acc1);
        }
        for (int end = n - L; i <= end; i += L) {
            acc0 = ((IntVector) ShortVector.fromMemorySegment(S, src, offset + 2L * i, LE).castShape(I, 0)).lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(FloatVector.fromArray(F, x, xOffset + i), acc0);
        }
        float sum = acc0.add(acc1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            sum += toFloat(src.get(Le.SHORT, offset + 2L * i)) * x[xOffset + i];
        }
        return sum;
    }
}

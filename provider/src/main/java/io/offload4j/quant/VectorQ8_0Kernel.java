package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.bytesToFloats;
import static io.offload4j.quant.VectorKernels.load;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Q8_0 on the Vector API: each chunk of {@code L} int8 quants widens straight to floats. */
final class VectorQ8_0Kernel extends ScalarQ8_0Kernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Le.half(src, bo));
            int y = dstOffset + b * QK;
            for (int c = 0; c < QK; c += L) {
                bytesToFloats(src, bo + 2 + c).mul(d).intoArray(dst, y + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        // Two blocks per step into two accumulators, so consecutive blocks do not wait on each other.
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        int b = 0;
        for (; b + 1 < nb; b += 2) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            acc0 = block(src, bo, x, xi, acc0);
            acc1 = block(src, bo + BLOCK_BYTES, x, xi + QK, acc1);
        }
        if (b < nb) {
            acc0 = block(src, offset + (long) b * BLOCK_BYTES, x, xOffset + b * QK, acc0);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }

    /** acc + d·Σ q·x over one block: the scale is applied once per block, not per value. */
    private static FloatVector block(MemorySegment src, long bo, float[] x, int xi, FloatVector acc) {
        FloatVector s = bytesToFloats(src, bo + 2).mul(load(x, xi));
        for (int c = L; c < QK; c += L) {
            s = bytesToFloats(src, bo + 2 + c).fma(load(x, xi + c), s);
        }
        return s.fma(FloatVector.broadcast(F, Le.half(src, bo)), acc);
    }
}

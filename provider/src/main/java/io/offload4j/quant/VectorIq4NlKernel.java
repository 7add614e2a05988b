package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.bytesToInts;
import static io.offload4j.quant.VectorKernels.iq4Levels;
import static io.offload4j.quant.VectorKernels.load;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * IQ4_NL on the Vector API: nibbles are split in int lanes as in Q4_0, and each code is turned into its
 * level by a permute of the 16-entry table held in registers ({@link VectorKernels#iq4Levels}).
 */
final class VectorIq4NlKernel extends ScalarIq4NlKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_NL, n);
        IntVector lo = VectorKernels.iq4LevelsLow();
        IntVector hi = VectorKernels.iq4LevelsHigh();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Le.half(src, bo));
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + 2 + c);
                iq4Levels(q.and(0xf), lo, hi).mul(d).intoArray(dst, y + c);
                iq4Levels(q.lanewise(VectorOperators.LSHR, 4).and(0xf), lo, hi).mul(d).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_NL, n);
        IntVector lo = VectorKernels.iq4LevelsLow();
        IntVector hi = VectorKernels.iq4LevelsHigh();
        // One copy of the body (see VectorQ8_0Kernel.dot); C2 unrolls the constant-count chunk loop.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            FloatVector s = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + 2 + c);
                s = iq4Levels(q.and(0xf), lo, hi).fma(load(x, xi + c), s);
                s = iq4Levels(q.lanewise(VectorOperators.LSHR, 4).and(0xf), lo, hi).fma(load(x, xi + 16 + c), s);
            }
            acc = s.fma(FloatVector.broadcast(F, Le.half(src, bo)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

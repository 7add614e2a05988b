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
 * IQ4_XS on the Vector API: each 32-value sub-block is an IQ4_NL block (see {@link VectorIq4NlKernel})
 * whose scale is {@code d·sc}.
 */
final class VectorIq4XsKernel extends ScalarIq4XsKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_XS, n);
        IntVector lo = VectorKernels.iq4LevelsLow();
        IntVector hi = VectorKernels.iq4LevelsHigh();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            long sc = scales(src.get(Le.SHORT, bo + SCALES_H), src.get(Le.INT, bo + SCALES_L));
            for (int ib = 0; ib < 8; ib++) {
                // (d·sc) rounded to float first, then times the level: bit-exact with ggml.
                FloatVector dl = FloatVector.broadcast(F, d * scale(sc, ib));
                long qs = bo + QS + 16 * ib;
                int y = dstOffset + b * QK + 32 * ib;
                for (int c = 0; c < 16; c += L) {
                    IntVector q = bytesToInts(src, qs + c);
                    iq4Levels(q.and(0xf), lo, hi).mul(dl).intoArray(dst, y + c);
                    iq4Levels(q.lanewise(VectorOperators.LSHR, 4).and(0xf), lo, hi).mul(dl).intoArray(dst, y + 16 + c);
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_XS, n);
        IntVector lo = VectorKernels.iq4LevelsLow();
        IntVector hi = VectorKernels.iq4LevelsHigh();
        // One copy of the body (see VectorQ8_0Kernel.dot): a sub-block's Σ level·x, then its scale once.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            long sc = scales(src.get(Le.SHORT, bo + SCALES_H), src.get(Le.INT, bo + SCALES_L));
            for (int ib = 0; ib < 8; ib++) {
                long qs = bo + QS + 16 * ib;
                int xi = xOffset + b * QK + 32 * ib;
                FloatVector s = FloatVector.zero(F);
                for (int c = 0; c < 16; c += L) {
                    IntVector q = bytesToInts(src, qs + c);
                    s = iq4Levels(q.and(0xf), lo, hi).fma(load(x, xi + c), s);
                    s = iq4Levels(q.lanewise(VectorOperators.LSHR, 4).and(0xf), lo, hi).fma(load(x, xi + 16 + c), s);
                }
                acc = s.fma(FloatVector.broadcast(F, d * scale(sc, ib)), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

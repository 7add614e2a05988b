package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.B;
import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.LE;
import static io.offload4j.quant.VectorKernels.L;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q5_K on the Vector API: as Q4_K, plus the fifth bit. {@code qh} bytes are widened to int lanes once
 * per chunk and shifted left 4, so that bit {@code j} lands on bit 4 after a right shift by {@code j}
 * and one mask with 16 gives the high bit's value.
 */
final class VectorQ5KKernel extends ScalarQ5KKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo));
            float dmin = Float.float16ToFloat(src.get(Le.SHORT, bo + 2));
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int cc = src.get(Le.INT, bo + SCALES + 8);
            long sc = KScales.scales(a, bb, cc);
            long mn = KScales.mins(a, bb, cc);
            int y = dstOffset + b * QK;
            for (int p = 0; p < 4; p++) {
                FloatVector d1 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p));
                FloatVector m1 = FloatVector.broadcast(F, dmin * KScales.get(mn, 2 * p));
                FloatVector d2 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p + 1));
                FloatVector m2 = FloatVector.broadcast(F, dmin * KScales.get(mn, 2 * p + 1));
                for (int c = 0; c < 32; c += L) {
                    IntVector q = ((IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + 32 * p + c,
                            LE).castShape(I, 0));
                    IntVector h = ((IntVector) ByteVector.fromMemorySegment(B, src, bo + QH + c, LE).castShape(I, 0))
                            .lanewise(VectorOperators.LSHL, 4);
                    IntVector lo = q.and(0xf).or(h.lanewise(VectorOperators.LSHR, 2 * p).and(16));
                    IntVector hi = q.lanewise(VectorOperators.LSHR, 4)
                            .and(0xf).or(h.lanewise(VectorOperators.LSHR, 2 * p + 1).and(16));
                    ((FloatVector) lo.castShape(F, 0)).mul(d1).sub(m1).intoArray(dst, y + 64 * p + c);
                    ((FloatVector) hi.castShape(F, 0)).mul(d2).sub(m2).intoArray(dst, y + 64 * p + 32 + c);
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_K, n);
        // One copy of the chunk body (see VectorQ8_0Kernel.dot); two accumulators, low and high nibbles.
        FloatVector accLo = FloatVector.zero(F);
        FloatVector accHi = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo));
            float dmin = Float.float16ToFloat(src.get(Le.SHORT, bo + 2));
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int cc = src.get(Le.INT, bo + SCALES + 8);
            long sc = KScales.scales(a, bb, cc);
            long mn = KScales.mins(a, bb, cc);
            int xb = xOffset + b * QK;
            for (int p = 0; p < 4; p++) {
                FloatVector d1 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p));
                FloatVector m1 = FloatVector.broadcast(F, -dmin * KScales.get(mn, 2 * p));
                FloatVector d2 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p + 1));
                FloatVector m2 = FloatVector.broadcast(F, -dmin * KScales.get(mn, 2 * p + 1));
                long qo = bo + QS + 32 * p;
                int x0 = xb + 64 * p;
                int shiftLo = 2 * p;
                int shiftHi = 2 * p + 1;
                for (int c = 0; c < 32; c += L) {
                    IntVector q = ((IntVector) ByteVector.fromMemorySegment(B, src, qo + c, LE).castShape(I, 0));
                    IntVector h = ((IntVector) ByteVector.fromMemorySegment(B, src, bo + QH + c, LE).castShape(I, 0))
                            .lanewise(VectorOperators.LSHL, 4);
                    IntVector lo = q.and(0xf).or(h.lanewise(VectorOperators.LSHR, shiftLo).and(16));
                    IntVector hi = q.lanewise(VectorOperators.LSHR, 4)
                            .and(0xf).or(h.lanewise(VectorOperators.LSHR, shiftHi).and(16));
                    accLo = ((FloatVector) lo.castShape(F, 0)).fma(d1, m1)
                            .fma(FloatVector.fromArray(F, x, x0 + c), accLo);
                    accHi = ((FloatVector) hi.castShape(F, 0)).fma(d2, m2)
                            .fma(FloatVector.fromArray(F, x, x0 + 32 + c), accHi);
                }
            }
        }
        return accLo.add(accHi).reduceLanes(VectorOperators.ADD);
    }
}

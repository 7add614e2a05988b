package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.B;
import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.LANE_INDEX;
import static io.offload4j.quant.VectorKernels.LE;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/** Q5_1 on the Vector API: quants as in {@link VectorQ5_0Kernel}, unsigned; per block d·Σ q·x + m·Σ x. */
final class VectorQ5_1Kernel extends ScalarQ5_1Kernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_1, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lane = IntVector.fromArray(I, LANE_INDEX, 0);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            FloatVector m = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo + 2)));
            int qh = src.get(Le.INT, bo + QH);
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + c, LE).castShape(I, 0);
                IntVector q0 = q.and(0xf).or(IntVector.broadcast(I, qh >>> c).lanewise(VectorOperators.LSHR, lane)
                        .and(1).lanewise(VectorOperators.LSHL, 4));
                IntVector q1 = q.lanewise(VectorOperators.LSHR, 4).and(0xf).or(IntVector.broadcast(I, qh >>> (16 + c))
                        .lanewise(VectorOperators.LSHR, lane).and(1).lanewise(VectorOperators.LSHL, 4));
                // mul then add, not fma: the result must round exactly as ggml's d*q + m.
                ((FloatVector) q0.castShape(F, 0)).mul(d).add(m).intoArray(dst, y + c);
                ((FloatVector) q1.castShape(F, 0)).mul(d).add(m).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_1, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lane = IntVector.fromArray(I, LANE_INDEX, 0);
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int qh = src.get(Le.INT, bo + QH);
            int xi = xOffset + b * QK;
            FloatVector sq = FloatVector.zero(F);
            FloatVector sx = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + c, LE).castShape(I, 0);
                IntVector q0 = q.and(0xf).or(IntVector.broadcast(I, qh >>> c).lanewise(VectorOperators.LSHR, lane)
                        .and(1).lanewise(VectorOperators.LSHL, 4));
                IntVector q1 = q.lanewise(VectorOperators.LSHR, 4).and(0xf).or(IntVector.broadcast(I, qh >>> (16 + c))
                        .lanewise(VectorOperators.LSHR, lane).and(1).lanewise(VectorOperators.LSHL, 4));
                FloatVector x0 = FloatVector.fromArray(F, x, xi + c);
                FloatVector x1 = FloatVector.fromArray(F, x, xi + 16 + c);
                sq = ((FloatVector) q0.castShape(F, 0)).fma(x0, sq);
                sq = ((FloatVector) q1.castShape(F, 0)).fma(x1, sq);
                sx = sx.add(x0).add(x1);
            }
            acc0 = sq.fma(FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo))), acc0);
            acc1 = sx.fma(FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo + 2))), acc1);
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }
}

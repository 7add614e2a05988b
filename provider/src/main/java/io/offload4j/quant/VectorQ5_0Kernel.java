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

/**
 * Q5_0 on the Vector API: nibbles as in Q4_0; the fifth bits come from the block's {@code qh} word,
 * broadcast to every lane and shifted right by the lane's value index ({@link VectorKernels#LANE_INDEX}),
 * so that one mask leaves each lane its own bit: the quants of values {@code c..c+L-1} are
 * {@code (q & 0xf) | ((qh >>> c >>> lane) & 1) << 4}, those of {@code 16+c..} the high nibbles with
 * {@code qh >>> (16 + c)}.
 */
final class VectorQ5_0Kernel extends ScalarQ5_0Kernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_0, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lane = IntVector.fromArray(I, LANE_INDEX, 0);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            int qh = src.get(Le.INT, bo + QH);
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + c, LE).castShape(I, 0);
                IntVector q0 = q.and(0xf).or(IntVector.broadcast(I, qh >>> c).lanewise(VectorOperators.LSHR, lane)
                        .and(1).lanewise(VectorOperators.LSHL, 4));
                IntVector q1 = q.lanewise(VectorOperators.LSHR, 4).and(0xf).or(IntVector.broadcast(I, qh >>> (16 + c))
                        .lanewise(VectorOperators.LSHR, lane).and(1).lanewise(VectorOperators.LSHL, 4));
                ((FloatVector) q0.sub(16).castShape(F, 0)).mul(d).intoArray(dst, y + c);
                ((FloatVector) q1.sub(16).castShape(F, 0)).mul(d).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_0, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lane = IntVector.fromArray(I, LANE_INDEX, 0);
        // One copy of the body (see VectorQ8_0Kernel.dot); C2 unrolls the constant-count chunk loop.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int qh = src.get(Le.INT, bo + QH);
            int xi = xOffset + b * QK;
            FloatVector s = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + c, LE).castShape(I, 0);
                IntVector q0 = q.and(0xf).or(IntVector.broadcast(I, qh >>> c).lanewise(VectorOperators.LSHR, lane)
                        .and(1).lanewise(VectorOperators.LSHL, 4));
                IntVector q1 = q.lanewise(VectorOperators.LSHR, 4).and(0xf).or(IntVector.broadcast(I, qh >>> (16 + c))
                        .lanewise(VectorOperators.LSHR, lane).and(1).lanewise(VectorOperators.LSHL, 4));
                s = ((FloatVector) q0.sub(16).castShape(F, 0)).fma(FloatVector.fromArray(F, x, xi + c), s);
                s = ((FloatVector) q1.sub(16).castShape(F, 0)).fma(FloatVector.fromArray(F, x, xi + 16 + c), s);
            }
            acc = s.fma(FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo))), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

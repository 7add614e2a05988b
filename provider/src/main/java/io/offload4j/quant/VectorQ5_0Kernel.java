package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.bytesToInts;
import static io.offload4j.quant.VectorKernels.load;
import static io.offload4j.quant.VectorKernels.toFloats;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q5_0 on the Vector API: nibbles as in Q4_0; the fifth bits come from the block's {@code qh} word,
 * broadcast to every lane and shifted right by the lane's value index ({@link VectorKernels#laneIndex}),
 * so that one mask leaves each lane its own bit.
 */
final class VectorQ5_0Kernel extends ScalarQ5_0Kernel {

    /** The 5-bit quants of values {@code c..c+L-1} (low nibbles of {@code q}) with their high bits from {@code qh}. */
    static IntVector low(IntVector q, int qh, int c, IntVector lane) {
        return q.and(0xf).or(IntVector.broadcast(I, qh >>> c).lanewise(VectorOperators.LSHR, lane).and(1)
                .lanewise(VectorOperators.LSHL, 4));
    }

    /** The 5-bit quants of values {@code 16+c..} (high nibbles of {@code q}). */
    static IntVector high(IntVector q, int qh, int c, IntVector lane) {
        return q.lanewise(VectorOperators.LSHR, 4).and(0xf).or(IntVector.broadcast(I, qh >>> (16 + c))
                .lanewise(VectorOperators.LSHR, lane).and(1).lanewise(VectorOperators.LSHL, 4));
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_0, n);
        IntVector lane = VectorKernels.laneIndex();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Le.half(src, bo));
            int qh = src.get(Le.INT, bo + QH);
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + QS + c);
                toFloats(low(q, qh, c, lane).sub(16)).mul(d).intoArray(dst, y + c);
                toFloats(high(q, qh, c, lane).sub(16)).mul(d).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q5_0, n);
        IntVector lane = VectorKernels.laneIndex();
        // One copy of the body (see VectorQ8_0Kernel.dot); C2 unrolls the constant-count chunk loop.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int qh = src.get(Le.INT, bo + QH);
            int xi = xOffset + b * QK;
            FloatVector s = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + QS + c);
                s = toFloats(low(q, qh, c, lane).sub(16)).fma(load(x, xi + c), s);
                s = toFloats(high(q, qh, c, lane).sub(16)).fma(load(x, xi + 16 + c), s);
            }
            acc = s.fma(FloatVector.broadcast(F, Le.half(src, bo)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

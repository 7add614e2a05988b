package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.B;
import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.LE;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q4_0 on the Vector API. A chunk of {@code L} quant bytes at {@code qs[c..]} holds values
 * {@code c..c+L-1} (low nibbles) and {@code 16+c..} (high nibbles); nibbles are split in int lanes,
 * where shifts and masks are native (x86 has no byte-lane shift).
 */
final class VectorQ4_0Kernel extends ScalarQ4_0Kernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(I, 0);
                ((FloatVector) q.and(0xf).sub(8).castShape(F, 0)).mul(d).intoArray(dst, y + c);
                ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8).castShape(F, 0)).mul(d).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        // One copy of the body (see VectorQ8_0Kernel.dot); C2 unrolls the constant-count chunk loop.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            FloatVector s = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(I, 0);
                s = ((FloatVector) q.and(0xf).sub(8).castShape(F, 0)).fma(FloatVector.fromArray(F, x, xi + c), s);
                s = ((FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8).castShape(F, 0)).fma(FloatVector.fromArray(F, x, xi + 16 + c), s);
            }
            acc = s.fma(FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo))), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

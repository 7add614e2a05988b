package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
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
            FloatVector d = FloatVector.broadcast(F, Le.half(src, bo));
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + 2 + c);
                toFloats(q.and(0xf).sub(8)).mul(d).intoArray(dst, y + c);
                toFloats(q.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8)).mul(d).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        // One copy of the body (see VectorQ8_0Kernel.dot); C2 unrolls the constant-count chunk loop.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            FloatVector s = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = bytesToInts(src, bo + 2 + c);
                s = toFloats(q.and(0xf).sub(8)).fma(load(x, xi + c), s);
                s = toFloats(q.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8)).fma(load(x, xi + 16 + c), s);
            }
            acc = s.fma(FloatVector.broadcast(F, Le.half(src, bo)), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

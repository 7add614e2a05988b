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

    @Override
    public void dotRows(MemorySegment src, long offset, long rowBytes, int rows, float[] x, int xOffset, int n,
                        float[] out, int outOffset, float[] scratch) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        int i = 0;
        for (; i + 2 <= rows; i += 2) {
            long o0 = offset + i * rowBytes;
            long o1 = o0 + rowBytes;
            FloatVector a0 = FloatVector.zero(F);
            FloatVector a1 = FloatVector.zero(F);
            for (int b = 0; b < nb; b++) {
                long bo = (long) b * BLOCK_BYTES;
                int xi = xOffset + b * QK;
                FloatVector d0 = FloatVector.broadcast(F, Le.half(src, o0 + bo));
                FloatVector d1 = FloatVector.broadcast(F, Le.half(src, o1 + bo));
                for (int c = 0; c < 16; c += L) {
                    FloatVector xl = load(x, xi + c);
                    FloatVector xh = load(x, xi + 16 + c);
                    long qo = bo + 2 + c;
                    IntVector q0 = bytesToInts(src, o0 + qo);
                    IntVector q1 = bytesToInts(src, o1 + qo);
                    a0 = toFloats(q0.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8)).fma(xh, toFloats(q0.and(0xf).sub(8)).mul(xl)).fma(d0, a0);
                    a1 = toFloats(q1.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8)).fma(xh, toFloats(q1.and(0xf).sub(8)).mul(xl)).fma(d1, a1);
                }
            }
            out[outOffset + i] = a0.reduceLanes(VectorOperators.ADD);
            out[outOffset + i + 1] = a1.reduceLanes(VectorOperators.ADD);
        }
        for (; i < rows; i++) {
            out[outOffset + i] = dot(src, offset + i * rowBytes, x, xOffset, n);
        }
    }
}

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

    /** Every few-row step the CPU pass takes (from 8 rows it packs panels). */
    @Override
    public int fusedRowsMax() {
        return 7;
    }

    /**
     * Four activation rows against one stored row: each chunk's nibbles are split and widened once and multiplied
     * into four accumulators, per row in the same order as {@link #dot}.
     */
    @Override
    public void dot4(MemorySegment src, long offset, float[] x, int x0, int xStride, int n, float[] out, int o,
                     int outStride) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        int x1 = x0 + xStride;
        int x2 = x1 + xStride;
        int x3 = x2 + xStride;
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        FloatVector acc2 = FloatVector.zero(F), acc3 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xb = b * QK;
            FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F);
            FloatVector s2 = FloatVector.zero(F), s3 = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(I, 0);
                FloatVector lo = (FloatVector) q.and(0xf).sub(8).castShape(F, 0);
                FloatVector hi = (FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8).castShape(F, 0);
                s0 = lo.fma(FloatVector.fromArray(F, x, x0 + xb + c), s0);
                s0 = hi.fma(FloatVector.fromArray(F, x, x0 + xb + 16 + c), s0);
                s1 = lo.fma(FloatVector.fromArray(F, x, x1 + xb + c), s1);
                s1 = hi.fma(FloatVector.fromArray(F, x, x1 + xb + 16 + c), s1);
                s2 = lo.fma(FloatVector.fromArray(F, x, x2 + xb + c), s2);
                s2 = hi.fma(FloatVector.fromArray(F, x, x2 + xb + 16 + c), s2);
                s3 = lo.fma(FloatVector.fromArray(F, x, x3 + xb + c), s3);
                s3 = hi.fma(FloatVector.fromArray(F, x, x3 + xb + 16 + c), s3);
            }
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            acc0 = s0.fma(d, acc0);
            acc1 = s1.fma(d, acc1);
            acc2 = s2.fma(d, acc2);
            acc3 = s3.fma(d, acc3);
        }
        out[o] = acc0.reduceLanes(VectorOperators.ADD);
        out[o + outStride] = acc1.reduceLanes(VectorOperators.ADD);
        out[o + 2 * outStride] = acc2.reduceLanes(VectorOperators.ADD);
        out[o + 3 * outStride] = acc3.reduceLanes(VectorOperators.ADD);
    }

    /** {@link #dot4} for two rows. */
    @Override
    public void dot2(MemorySegment src, long offset, float[] x, int x0, int xStride, int n, float[] out, int o,
                     int outStride) {
        int nb = Rows.blocks(GgmlType.Q4_0, n);
        int x1 = x0 + xStride;
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xb = b * QK;
            FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(I, 0);
                FloatVector lo = (FloatVector) q.and(0xf).sub(8).castShape(F, 0);
                FloatVector hi = (FloatVector) q.lanewise(VectorOperators.LSHR, 4).and(0xf).sub(8).castShape(F, 0);
                s0 = lo.fma(FloatVector.fromArray(F, x, x0 + xb + c), s0);
                s0 = hi.fma(FloatVector.fromArray(F, x, x0 + xb + 16 + c), s0);
                s1 = lo.fma(FloatVector.fromArray(F, x, x1 + xb + c), s1);
                s1 = hi.fma(FloatVector.fromArray(F, x, x1 + xb + 16 + c), s1);
            }
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            acc0 = s0.fma(d, acc0);
            acc1 = s1.fma(d, acc1);
        }
        out[o] = acc0.reduceLanes(VectorOperators.ADD);
        out[o + outStride] = acc1.reduceLanes(VectorOperators.ADD);
    }
}

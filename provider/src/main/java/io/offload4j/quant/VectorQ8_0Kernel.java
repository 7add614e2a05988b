package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.B;
import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.LE;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/** Q8_0 on the Vector API: each chunk of {@code L} int8 quants widens straight to floats. */
final class VectorQ8_0Kernel extends ScalarQ8_0Kernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            int y = dstOffset + b * QK;
            for (int c = 0; c < QK; c += L) {
                ((FloatVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(F, 0)).mul(d).intoArray(dst, y + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        // One copy of the loop body: C2 stops inlining Vector API calls once a method's IR grows past
        // its node cutoff, and a call that is not inlined boxes every vector it touches. C2 unrolls
        // the loops itself; the per-block sum s is independent across blocks, so blocks overlap.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            FloatVector s = FloatVector.zero(F);
            for (int c = 0; c < QK; c += L) {
                s = ((FloatVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(F, 0)).fma(FloatVector.fromArray(F, x, xi + c), s);
            }
            // The scale once per block: d·Σ q·x.
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
     * Four activation rows against one stored row: each chunk of quants is widened once and multiplied into four
     * accumulators, per row in the same order as {@link #dot}.
     * Written out like {@code dot} (no vector-valued helpers: see VectorKernels, "entry points").
     */
    @Override
    public void dot4(MemorySegment src, long offset, float[] x, int x0, int xStride, int n, float[] out, int o,
                     int outStride) {
        int nb = Rows.blocks(GgmlType.Q8_0, n);
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
            for (int c = 0; c < QK; c += L) {
                FloatVector w = (FloatVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(F, 0);
                s0 = w.fma(FloatVector.fromArray(F, x, x0 + xb + c), s0);
                s1 = w.fma(FloatVector.fromArray(F, x, x1 + xb + c), s1);
                s2 = w.fma(FloatVector.fromArray(F, x, x2 + xb + c), s2);
                s3 = w.fma(FloatVector.fromArray(F, x, x3 + xb + c), s3);
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
        int nb = Rows.blocks(GgmlType.Q8_0, n);
        int x1 = x0 + xStride;
        FloatVector acc0 = FloatVector.zero(F), acc1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xb = b * QK;
            FloatVector s0 = FloatVector.zero(F), s1 = FloatVector.zero(F);
            for (int c = 0; c < QK; c += L) {
                FloatVector w = (FloatVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(F, 0);
                s0 = w.fma(FloatVector.fromArray(F, x, x0 + xb + c), s0);
                s1 = w.fma(FloatVector.fromArray(F, x, x1 + xb + c), s1);
            }
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            acc0 = s0.fma(d, acc0);
            acc1 = s1.fma(d, acc1);
        }
        out[o] = acc0.reduceLanes(VectorOperators.ADD);
        out[o + outStride] = acc1.reduceLanes(VectorOperators.ADD);
    }
}

package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.L;
import static io.offload4j.quant.VectorKernels.B;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.LE;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Q3_K on the Vector API. A chunk reads {@code L} bytes of {@code qs[32h + c..]} and of {@code hmask[c..]}
 * once and yields four vectors of quants ({@code s} = 0..3): bit pair {@code 2s} of the first and bit
 * {@code 4h + s} of the second. {@code hmask} is widened and shifted left 2 once, so that after a right
 * shift by {@code 4h + s} one mask with 4 gives the high bit's value; the quant is then
 * {@code (low2 | high) - 4}. Since {@code L} divides 16, each chunk has one sub-block scale. The Vector and memory
 * API calls are written out, not behind vector-valued helpers (see VectorKernels, "Entry points").
 */
final class VectorQ3KKernel extends ScalarQ3KKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q3_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo + D));
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int cc = src.get(Le.INT, bo + SCALES + 8);
            for (int h = 0; h < 2; h++) {
                long scales = h == 0 ? Q3Scales.first(a, bb, cc) : Q3Scales.second(a, bb, cc);
                int y = dstOffset + b * QK + 128 * h;
                for (int c = 0; c < 32; c += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + 32 * h + c, LE)
                            .castShape(I, 0);
                    IntVector hm4 = ((IntVector) ByteVector.fromMemorySegment(B, src, bo + c, LE).castShape(I, 0))
                            .lanewise(VectorOperators.LSHL, 2);
                    for (int s = 0; s < 4; s++) {
                        // (d·sc) rounded to float first, then times q: bit-exact with ggml.
                        ((FloatVector) q.lanewise(VectorOperators.LSHR, 2 * s).and(3)
                                .or(hm4.lanewise(VectorOperators.LSHR, 4 * h + s).and(4)).sub(4).castShape(F, 0))
                                .mul(d * Q3Scales.get(scales, 2 * s + (c >> 4)))
                                .intoArray(dst, y + 32 * s + c);
                    }
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q3_K, n);
        // One copy of the body (see VectorQ8_0Kernel.dot); two accumulators for even and odd bit pairs.
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo + D));
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int cc = src.get(Le.INT, bo + SCALES + 8);
            for (int h = 0; h < 2; h++) {
                long scales = h == 0 ? Q3Scales.first(a, bb, cc) : Q3Scales.second(a, bb, cc);
                int x0 = xOffset + b * QK + 128 * h;
                for (int c = 0; c < 32; c += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + 32 * h + c, LE)
                            .castShape(I, 0);
                    IntVector hm4 = ((IntVector) ByteVector.fromMemorySegment(B, src, bo + c, LE).castShape(I, 0))
                            .lanewise(VectorOperators.LSHL, 2);
                    for (int s = 0; s < 4; s += 2) {
                        FloatVector w0 = ((FloatVector) q.lanewise(VectorOperators.LSHR, 2 * s).and(3)
                                .or(hm4.lanewise(VectorOperators.LSHR, 4 * h + s).and(4)).sub(4).castShape(F, 0))
                                .mul(d * Q3Scales.get(scales, 2 * s + (c >> 4)));
                        FloatVector w1 = ((FloatVector) q.lanewise(VectorOperators.LSHR, 2 * (s + 1)).and(3)
                                .or(hm4.lanewise(VectorOperators.LSHR, 4 * h + s + 1).and(4)).sub(4).castShape(F, 0))
                                .mul(d * Q3Scales.get(scales, 2 * s + 2 + (c >> 4)));
                        acc0 = w0.fma(FloatVector.fromArray(F, x, x0 + 32 * s + c), acc0);
                        acc1 = w1.fma(FloatVector.fromArray(F, x, x0 + 32 * s + 32 + c), acc1);
                    }
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }
}

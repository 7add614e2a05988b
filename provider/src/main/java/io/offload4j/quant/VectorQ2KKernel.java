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
 * Q2_K on the Vector API. A chunk reads {@code L} bytes of {@code qs[32h + c..]} once and yields four
 * vectors of quants, bit pairs 0-1, 2-3, 4-5 and 6-7: values {@code 128h + 32s + c..} for {@code s} = 0..3.
 * Since {@code L} divides 16, each lies in one 16-value sub-block ({@code 8h + 2s + c/16}) and has one scale
 * and one min; a value is rebuilt as {@code fma(q, d·sc, -dmin·m)} and fma'd with x. The Vector and memory API
 * calls are written out, not behind vector-valued helpers (see VectorKernels, "Entry points").
 */
final class VectorQ2KKernel extends ScalarQ2KKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q2_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo + D));
            float dmin = Float.float16ToFloat(src.get(Le.SHORT, bo + DMIN));
            for (int h = 0; h < 2; h++) {
                int y = dstOffset + b * QK + 128 * h;
                for (int c = 0; c < 32; c += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + 32 * h + c, LE)
                            .castShape(I, 0);
                    for (int s = 0; s < 4; s++) {
                        int sc = src.get(Le.BYTE, bo + 8 * h + 2 * s + (c >> 4)) & 0xff;
                        // mul then sub, not fma: bit-exact with ggml's (d·sc)·q - (dmin·m).
                        ((FloatVector) q.lanewise(VectorOperators.LSHR, 2 * s).and(3).castShape(F, 0))
                                .mul(d * (sc & 0xf))
                                .sub(dmin * (sc >> 4)).intoArray(dst, y + 32 * s + c);
                    }
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q2_K, n);
        // One copy of the body (see VectorQ8_0Kernel.dot); two accumulators for even and odd bit pairs.
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo + D));
            float dmin = -Float.float16ToFloat(src.get(Le.SHORT, bo + DMIN));
            for (int h = 0; h < 2; h++) {
                int x0 = xOffset + b * QK + 128 * h;
                for (int c = 0; c < 32; c += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + 32 * h + c, LE)
                            .castShape(I, 0);
                    for (int s = 0; s < 4; s += 2) {
                        int sc0 = src.get(Le.BYTE, bo + 8 * h + 2 * s + (c >> 4)) & 0xff;
                        int sc1 = src.get(Le.BYTE, bo + 8 * h + 2 * s + 2 + (c >> 4)) & 0xff;
                        FloatVector w0 = ((FloatVector) q.lanewise(VectorOperators.LSHR, 2 * s).and(3).castShape(F, 0))
                                .fma(FloatVector.broadcast(F, d * (sc0 & 0xf)), FloatVector.broadcast(F, dmin * (sc0 >> 4)));
                        FloatVector w1 = ((FloatVector) q.lanewise(VectorOperators.LSHR, 2 * s + 2).and(3)
                                .castShape(F, 0))
                                .fma(FloatVector.broadcast(F, d * (sc1 & 0xf)), FloatVector.broadcast(F, dmin * (sc1 >> 4)));
                        acc0 = w0.fma(FloatVector.fromArray(F, x, x0 + 32 * s + c), acc0);
                        acc1 = w1.fma(FloatVector.fromArray(F, x, x0 + 32 * s + 32 + c), acc1);
                    }
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }
}

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
import jdk.incubator.vector.VectorShuffle;

/**
 * IQ4_NL on the Vector API: nibbles are split in int lanes as in Q4_0, and each code is turned into its
 * level by a permute of the 16-entry table ({@link Iq4Values#INT_LEVELS}) held in registers, loaded once per
 * call as {@code lo} (the first {@code L} levels) and {@code hi} (the last {@code L}). With 16 lanes that is one
 * permute ({@code vpermd}); with 8 lanes both halves of the table are permuted by the code's low 3 bits and
 * blended by its bit 3 (measured 20 % faster on AVX2 than the two-vector {@code rearrange(shuffle, high)}). The
 * permute is done on int lanes, where the codes already are, and the levels converted afterwards (exactly:
 * small integers). {@code L == 16} is a constant, so C2 parses only one of the two branches.
 */
final class VectorIq4NlKernel extends ScalarIq4NlKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_NL, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lo = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 0);
        IntVector hi = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 16 - L);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            FloatVector d = FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo)));
            int y = dstOffset + b * QK;
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(I, 0);
                IntVector k0 = q.and(0xf);
                IntVector k1 = q.lanewise(VectorOperators.LSHR, 4).and(0xf);
                IntVector v0;
                IntVector v1;
                if (L == 16) {
                    v0 = lo.rearrange(k0.toShuffle());
                    v1 = lo.rearrange(k1.toShuffle());
                } else {
                    VectorShuffle<Integer> w0 = k0.and(7).toShuffle();
                    VectorShuffle<Integer> w1 = k1.and(7).toShuffle();
                    v0 = lo.rearrange(w0).blend(hi.rearrange(w0), k0.compare(VectorOperators.GT, 7));
                    v1 = lo.rearrange(w1).blend(hi.rearrange(w1), k1.compare(VectorOperators.GT, 7));
                }
                ((FloatVector) v0.castShape(F, 0)).mul(d).intoArray(dst, y + c);
                ((FloatVector) v1.castShape(F, 0)).mul(d).intoArray(dst, y + 16 + c);
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_NL, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lo = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 0);
        IntVector hi = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 16 - L);
        // One copy of the body (see VectorQ8_0Kernel.dot); C2 unrolls the constant-count chunk loop.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xi = xOffset + b * QK;
            FloatVector s = FloatVector.zero(F);
            for (int c = 0; c < 16; c += L) {
                IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, bo + 2 + c, LE).castShape(I, 0);
                IntVector k0 = q.and(0xf);
                IntVector k1 = q.lanewise(VectorOperators.LSHR, 4).and(0xf);
                IntVector v0;
                IntVector v1;
                if (L == 16) {
                    v0 = lo.rearrange(k0.toShuffle());
                    v1 = lo.rearrange(k1.toShuffle());
                } else {
                    VectorShuffle<Integer> w0 = k0.and(7).toShuffle();
                    VectorShuffle<Integer> w1 = k1.and(7).toShuffle();
                    v0 = lo.rearrange(w0).blend(hi.rearrange(w0), k0.compare(VectorOperators.GT, 7));
                    v1 = lo.rearrange(w1).blend(hi.rearrange(w1), k1.compare(VectorOperators.GT, 7));
                }
                s = ((FloatVector) v0.castShape(F, 0)).fma(FloatVector.fromArray(F, x, xi + c), s);
                s = ((FloatVector) v1.castShape(F, 0)).fma(FloatVector.fromArray(F, x, xi + 16 + c), s);
            }
            acc = s.fma(FloatVector.broadcast(F, Float.float16ToFloat(src.get(Le.SHORT, bo))), acc);
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

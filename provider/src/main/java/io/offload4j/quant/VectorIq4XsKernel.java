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
 * IQ4_XS on the Vector API: each 32-value sub-block is an IQ4_NL block (see {@link VectorIq4NlKernel}, whose
 * level lookup is repeated here) whose scale is {@code d·sc}.
 */
final class VectorIq4XsKernel extends ScalarIq4XsKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_XS, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lo = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 0);
        IntVector hi = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 16 - L);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo));
            long sc = scales(src.get(Le.SHORT, bo + SCALES_H), src.get(Le.INT, bo + SCALES_L));
            for (int ib = 0; ib < 8; ib++) {
                // (d·sc) rounded to float first, then times the level: bit-exact with ggml. scale(sc, ib) written out.
                FloatVector dl = FloatVector.broadcast(F, d * (((int) (sc >>> (ib << 3)) & 0x3f) - 32));
                long qs = bo + QS + 16 * ib;
                int y = dstOffset + b * QK + 32 * ib;
                for (int c = 0; c < 16; c += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, qs + c, LE).castShape(I, 0);
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
                    ((FloatVector) v0.castShape(F, 0)).mul(dl).intoArray(dst, y + c);
                    ((FloatVector) v1.castShape(F, 0)).mul(dl).intoArray(dst, y + 16 + c);
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.IQ4_XS, n);
        // Vector API calls written out, not through VectorKernels' helpers: see VectorKernels, "entry points".
        IntVector lo = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 0);
        IntVector hi = IntVector.fromArray(I, Iq4Values.INT_LEVELS, 16 - L);
        // One copy of the body (see VectorQ8_0Kernel.dot): a sub-block's Σ level·x, then its scale once.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo));
            // scales() stays a call: it returns a long, so declining it boxes nothing (one call per 256 values).
            long sc = scales(src.get(Le.SHORT, bo + SCALES_H), src.get(Le.INT, bo + SCALES_L));
            for (int ib = 0; ib < 8; ib++) {
                long qs = bo + QS + 16 * ib;
                int xi = xOffset + b * QK + 32 * ib;
                FloatVector s = FloatVector.zero(F);
                for (int c = 0; c < 16; c += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, qs + c, LE).castShape(I, 0);
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
                // scale(sc, ib) written out.
                acc = s.fma(FloatVector.broadcast(F, d * (((int) (sc >>> (ib << 3)) & 0x3f) - 32)), acc);
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

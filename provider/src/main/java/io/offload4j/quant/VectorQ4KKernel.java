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
 * Q4_K on the Vector API. For each pair of sub-blocks the 32 quant bytes are read {@code L} at a time;
 * a chunk's low nibbles belong to sub-block {@code 2p}, its high nibbles to {@code 2p+1}. Each value
 * is rebuilt as {@code fma(q, d·sc, -dmin·m)} and fma'd with x.
 */
final class VectorQ4KKernel extends ScalarQ4KKernel {

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            float dmin = Le.half(src, bo + 2);
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int cc = src.get(Le.INT, bo + SCALES + 8);
            long sc = KScales.scales(a, bb, cc);
            long mn = KScales.mins(a, bb, cc);
            int y = dstOffset + b * QK;
            for (int p = 0; p < 4; p++) {
                FloatVector d1 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p));
                FloatVector m1 = FloatVector.broadcast(F, dmin * KScales.get(mn, 2 * p));
                FloatVector d2 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p + 1));
                FloatVector m2 = FloatVector.broadcast(F, dmin * KScales.get(mn, 2 * p + 1));
                for (int c = 0; c < 32; c += L) {
                    IntVector q = bytesToInts(src, bo + QS + 32 * p + c);
                    // mul then sub, not fma: bit-exact with ggml's d1*q - m1.
                    toFloats(q.and(0xf)).mul(d1).sub(m1).intoArray(dst, y + 64 * p + c);
                    toFloats(q.lanewise(VectorOperators.LSHR, 4).and(0xf)).mul(d2).sub(m2).intoArray(dst, y + 64 * p + 32 + c);
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q4_K, n);
        // One copy of the chunk body (see VectorQ8_0Kernel.dot); two accumulators, low and high nibbles.
        FloatVector accLo = FloatVector.zero(F);
        FloatVector accHi = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo);
            float dmin = Le.half(src, bo + 2);
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int cc = src.get(Le.INT, bo + SCALES + 8);
            long sc = KScales.scales(a, bb, cc);
            long mn = KScales.mins(a, bb, cc);
            int xb = xOffset + b * QK;
            for (int p = 0; p < 4; p++) {
                FloatVector d1 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p));
                FloatVector m1 = FloatVector.broadcast(F, -dmin * KScales.get(mn, 2 * p));
                FloatVector d2 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p + 1));
                FloatVector m2 = FloatVector.broadcast(F, -dmin * KScales.get(mn, 2 * p + 1));
                long qo = bo + QS + 32 * p;
                int x0 = xb + 64 * p;
                for (int c = 0; c < 32; c += L) {
                    IntVector q = bytesToInts(src, qo + c);
                    accLo = toFloats(q.and(0xf)).fma(d1, m1).fma(load(x, x0 + c), accLo);
                    accHi = toFloats(q.lanewise(VectorOperators.LSHR, 4).and(0xf)).fma(d2, m2).fma(load(x, x0 + 32 + c), accHi);
                }
            }
        }
        return accLo.add(accHi).reduceLanes(VectorOperators.ADD);
    }
}

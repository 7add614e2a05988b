package io.offload4j.quant;

import static io.offload4j.quant.VectorKernels.B;
import static io.offload4j.quant.VectorKernels.F;
import static io.offload4j.quant.VectorKernels.I;
import static io.offload4j.quant.VectorKernels.LE;
import static io.offload4j.quant.VectorKernels.L;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.ByteVector;
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
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo));
            float dmin = Float.float16ToFloat(src.get(Le.SHORT, bo + 2));
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
                    IntVector q = ((IntVector) ByteVector.fromMemorySegment(B, src, bo + QS + 32 * p + c,
                            LE).castShape(I, 0));
                    // mul then sub, not fma: bit-exact with ggml's d1*q - m1.
                    ((FloatVector) (q.and(0xf)).castShape(F, 0)).mul(d1).sub(m1).intoArray(dst, y + 64 * p + c);
                    ((FloatVector) (q.lanewise(VectorOperators.LSHR, 4).and(0xf)).castShape(F, 0))
                            .mul(d2).sub(m2).intoArray(dst, y + 64 * p + 32 + c);
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
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo));
            float dmin = Float.float16ToFloat(src.get(Le.SHORT, bo + 2));
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
                    IntVector q = ((IntVector) ByteVector.fromMemorySegment(B, src, qo + c, LE).castShape(I, 0));
                    accLo = ((FloatVector) (q.and(0xf)).castShape(F, 0)).fma(d1, m1)
                            .fma(FloatVector.fromArray(F, x, x0 + c), accLo);
                    accHi = ((FloatVector) (q.lanewise(VectorOperators.LSHR, 4).and(0xf)).castShape(F, 0)).fma(d2, m2)
                            .fma(FloatVector.fromArray(F, x, x0 + 32 + c), accHi);
                }
            }
        }
        return accLo.add(accHi).reduceLanes(VectorOperators.ADD);
    }

    /**
     * Two: {@code CpuBlockRowsBench --quant Q4_K_M} (an 8B-shaped block, 2 cores, AVX-512) measured 2 rows in 18.0-18.4
     * ms fused vs 22.2 decoded to floats (one row 17.7), 3 rows level, and 4-7 rows slower fused (7 rows 95-98 vs 60-65
     * ms on a busier run): the
     * four activation rows of a fused four-row pass were re-read from L2 for every stored row (it was removed).
     */
    @Override
    public int fusedRowsMax() {
        return 2;
    }

    /**
     * Two activation rows against one stored row: each chunk's nibbles are widened and rebuilt as weights
     * ({@code fma(q, d·sc, -dmin·m)}) once and multiplied into two accumulators per row (low and high nibbles), per
     * row in the order of the scratch-free {@link #dot(MemorySegment, long, float[], int, int)}. Four rows keep the
     * interface's row-by-row {@link #dot4}: fused, they measured slower (see {@link #fusedRowsMax()}).
     */
    @Override
    public void dot2(MemorySegment src, long offset, float[] x, int x0, int xStride, int n, float[] out, int o,
                     int outStride) {
        int nb = Rows.blocks(GgmlType.Q4_K, n);
        int x1 = x0 + xStride;
        FloatVector lo0 = FloatVector.zero(F), hi0 = FloatVector.zero(F);
        FloatVector lo1 = FloatVector.zero(F), hi1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo));
            float dmin = Float.float16ToFloat(src.get(Le.SHORT, bo + 2));
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int cc = src.get(Le.INT, bo + SCALES + 8);
            long sc = KScales.scales(a, bb, cc);
            long mn = KScales.mins(a, bb, cc);
            int xb = b * QK;
            for (int p = 0; p < 4; p++) {
                FloatVector d1 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p));
                FloatVector m1 = FloatVector.broadcast(F, -dmin * KScales.get(mn, 2 * p));
                FloatVector d2 = FloatVector.broadcast(F, d * KScales.get(sc, 2 * p + 1));
                FloatVector m2 = FloatVector.broadcast(F, -dmin * KScales.get(mn, 2 * p + 1));
                long qo = bo + QS + 32 * p;
                int xp = xb + 64 * p;
                for (int c = 0; c < 32; c += L) {
                    IntVector q = ((IntVector) ByteVector.fromMemorySegment(B, src, qo + c, LE).castShape(I, 0));
                    FloatVector wl = ((FloatVector) (q.and(0xf)).castShape(F, 0)).fma(d1, m1);
                    FloatVector wh = ((FloatVector) (q.lanewise(VectorOperators.LSHR, 4).and(0xf)).castShape(F, 0))
                            .fma(d2, m2);
                    lo0 = wl.fma(FloatVector.fromArray(F, x, x0 + xp + c), lo0);
                    hi0 = wh.fma(FloatVector.fromArray(F, x, x0 + xp + 32 + c), hi0);
                    lo1 = wl.fma(FloatVector.fromArray(F, x, x1 + xp + c), lo1);
                    hi1 = wh.fma(FloatVector.fromArray(F, x, x1 + xp + 32 + c), hi1);
                }
            }
        }
        out[o] = lo0.add(hi0).reduceLanes(VectorOperators.ADD);
        out[o + outStride] = lo1.add(hi1).reduceLanes(VectorOperators.ADD);
    }

    /**
     * The decode step's kernel. The scalar per-sub-block work of {@link #dot(MemorySegment, long, float[], int, int)}
     * (extracting, converting and multiplying each 6-bit scale and min: about 30 scalar instructions per 64 values
     * in C2's code) is replaced by one vector pass per super-block that writes {@code d·sc[0..7]} and
     * {@code -dmin·m[0..7]} into {@code scratch[0..16)}; the sub-blocks then broadcast them from there (one
     * instruction each). Quants are zero-extended, so the high nibble needs no mask. Four accumulators (low and high
     * nibbles of even and odd sub-block pairs) keep the multiply-add chains short. Same products as the scratch-free
     * dot; the sum differs by order.
     */
    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n, float[] scratch) {
        int nb = Rows.blocks(GgmlType.Q4_K, n);
        FloatVector accLo = FloatVector.zero(F);
        FloatVector accHi = FloatVector.zero(F);
        FloatVector accLo2 = FloatVector.zero(F);
        FloatVector accHi2 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            scales(src, bo, scratch);
            int xb = xOffset + b * QK;
            // Sub-block pairs p and p + 1 in one iteration, into separate accumulators (two multiply-add chains per
            // nibble). With the scales in scratch (C2 forwards those stores to the broadcasts), C2 unrolls the
            // super-block into straight-line code.
            for (int p = 0; p < 4; p += 2) {
                long qo = bo + QS + 32 * p;
                int x0 = xb + 64 * p;
                FloatVector d1 = FloatVector.broadcast(F, scratch[2 * p]);
                FloatVector d2 = FloatVector.broadcast(F, scratch[2 * p + 1]);
                FloatVector m1 = FloatVector.broadcast(F, scratch[8 + 2 * p]);
                FloatVector m2 = FloatVector.broadcast(F, scratch[9 + 2 * p]);
                FloatVector e1 = FloatVector.broadcast(F, scratch[2 * p + 2]);
                FloatVector e2 = FloatVector.broadcast(F, scratch[2 * p + 3]);
                FloatVector n1 = FloatVector.broadcast(F, scratch[10 + 2 * p]);
                FloatVector n2 = FloatVector.broadcast(F, scratch[11 + 2 * p]);
                for (int c = 0; c < 32; c += L) {
                    IntVector q = (IntVector) ByteVector.fromMemorySegment(B, src, qo + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    IntVector r = (IntVector) ByteVector.fromMemorySegment(B, src, qo + 32 + c, LE)
                            .convertShape(VectorOperators.ZERO_EXTEND_B2I, I, 0);
                    accLo = ((FloatVector) (q.and(0xf)).castShape(F, 0)).fma(d1, m1)
                            .fma(FloatVector.fromArray(F, x, x0 + c), accLo);
                    accHi = ((FloatVector) (q.lanewise(VectorOperators.LSHR, 4)).castShape(F, 0)).fma(d2, m2)
                            .fma(FloatVector.fromArray(F, x, x0 + 32 + c), accHi);
                    accLo2 = ((FloatVector) (r.and(0xf)).castShape(F, 0)).fma(e1, n1)
                            .fma(FloatVector.fromArray(F, x, x0 + 64 + c), accLo2);
                    accHi2 = ((FloatVector) (r.lanewise(VectorOperators.LSHR, 4)).castShape(F, 0)).fma(e2, n2)
                            .fma(FloatVector.fromArray(F, x, x0 + 96 + c), accHi2);
                }
            }
        }
        return accLo.add(accHi).add(accLo2.add(accHi2)).reduceLanes(VectorOperators.ADD);
    }

    /**
     * {@code out[j] = d·sc_j}, {@code out[8 + j] = -dmin·m_j} for the super-block at {@code bo}. Scalar on purpose:
     * a Vector API version (widening the packed bytes sixteen lanes at once) pushed the dot past C2's inlining node
     * cutoff, after which its vectors were boxed.
     */
    static void scales(MemorySegment src, long bo, float[] out) {
        // The 16-byte header in two reads (each segment access is a large tree in C2's IR, and this method is
        // inlined into the dot, whose node budget is tight): d, dmin and scale bytes 0-3, then bytes 4-11.
        long h0 = src.get(Le.LONG, bo);
        long h1 = src.get(Le.LONG, bo + 8);
        float d = Float.float16ToFloat((short) h0);
        float dmin = -Float.float16ToFloat((short) (h0 >>> 16));
        int a = (int) (h0 >>> 32);
        int bb = (int) h1;
        int cc = (int) (h1 >>> 32);
        long sc = KScales.scales(a, bb, cc);
        long mn = KScales.mins(a, bb, cc);
        for (int j = 0; j < 8; j++) {
            out[j] = d * (int) ((sc >>> (8 * j)) & 0xff);
            out[8 + j] = dmin * (int) ((mn >>> (8 * j)) & 0xff);
        }
    }
}

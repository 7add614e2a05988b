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
 * Q6_K on the Vector API. A chunk reads {@code L} bytes of {@code ql[32k+l..]} ({@code k} = 0, 1) and of
 * {@code qh[l..]} and yields two vectors of quants: values {@code 32k+l..} (low nibbles, {@code qh} bits
 * {@code 2k..2k+1}) and {@code 64+32k+l..} (high nibbles, bits {@code 2k+4..2k+5}) of the half. Since
 * {@code L} divides 16, every chunk lies in one 16-value sub-block and has a single scale.
 */
final class VectorQ6KKernel extends ScalarQ6KKernel {

    /**
     * Quants minus 32 of position k (low nibbles of {@code low}) and position k + 2 (high nibbles), where
     * {@code low} holds the bytes {@code ql[32k + l]} and {@code high} the bytes {@code qh[l]} shifted
     * right by 2k; both are sign-extended bytes, so every field is masked.
     */
    private static IntVector q0(IntVector low, IntVector high) {
        return low.and(0xf).or(high.and(3).lanewise(VectorOperators.LSHL, 4)).sub(32);
    }

    private static IntVector q1(IntVector low, IntVector high) {
        return low.lanewise(VectorOperators.LSHR, 4).and(0xf).or(high.and(0x30)).sub(32);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q6_K, n);
        // Same shape as dot: one copy of the chunk body, two positions per ql byte.
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo + D));
            for (int h = 0; h < 2; h++) {
                long qh = bo + QH + 32 * h;
                long sc = bo + SCALES + 8 * h;
                int y = dstOffset + b * QK + 128 * h;
                for (int k = 0; k < 2; k++) {
                    long ql = bo + 64 * h + 32 * k;
                    for (int c = 0; c < 32; c += L) {
                        IntVector low = ((IntVector) ByteVector.fromMemorySegment(B, src, ql + c, LE).castShape(I, 0));
                        IntVector high = ((IntVector) ByteVector.fromMemorySegment(B, src, qh + c,
                                LE).castShape(I, 0)).lanewise(VectorOperators.LSHR, 2 * k);
                        int is = 2 * k + (c >> 4);
                        // (d·scale) rounded to float first, then times q: bit-exact with ggml.
                        ((FloatVector) (q0(low, high)).castShape(F, 0)).mul(d * src.
                                get(Le.BYTE, sc + is)).intoArray(dst, y + 32 * k + c);
                        ((FloatVector) (q1(low, high)).castShape(F, 0)).mul(d * src.
                                get(Le.BYTE, sc + 4 + is)).intoArray(dst, y + 64 + 32 * k + c);
                    }
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q6_K, n);
        // One copy of the chunk body (see VectorQ8_0Kernel.dot for why), for ql[32k + l] (k = 0, 1): its
        // low nibbles are position k, its high nibbles position k + 2; qh shifted right by 2k puts the
        // high bits of position k in bits 0-1 and those of position k + 2 in bits 4-5.
        FloatVector acc0 = FloatVector.zero(F);
        FloatVector acc1 = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Float.float16ToFloat(src.get(Le.SHORT, bo + D));
            for (int h = 0; h < 2; h++) {
                long qh = bo + QH + 32 * h;
                long sc = bo + SCALES + 8 * h;
                int x0 = xOffset + b * QK + 128 * h;
                for (int k = 0; k < 2; k++) {
                    long ql = bo + 64 * h + 32 * k;
                    // A chunk lies in one sub-block (L divides 16): 2k + c/16 for position k, 4 + that for
                    // k + 2. The four scales are broadcast once, before the chunks.
                    FloatVector s00 = FloatVector.broadcast(F, d * src.get(Le.BYTE, sc + 2 * k));
                    FloatVector s01 = FloatVector.broadcast(F, d * src.get(Le.BYTE, sc + 2 * k + 1));
                    FloatVector s10 = FloatVector.broadcast(F, d * src.get(Le.BYTE, sc + 4 + 2 * k));
                    FloatVector s11 = FloatVector.broadcast(F, d * src.get(Le.BYTE, sc + 5 + 2 * k));
                    for (int c = 0; c < 32; c += L) {
                        IntVector low = ((IntVector) ByteVector.fromMemorySegment(B, src, ql + c, LE).castShape(I, 0));
                        IntVector high = ((IntVector) ByteVector.fromMemorySegment(B, src, qh + c,
                                LE).castShape(I, 0)).lanewise(VectorOperators.LSHR, 2 * k);
                        acc0 = ((FloatVector) (q0(low, high)).castShape(F, 0)).mul(c < 16 ? s00 : s01)
                                .fma(FloatVector.fromArray(F, x, x0 + 32 * k + c), acc0);
                        acc1 = ((FloatVector) (q1(low, high)).castShape(F, 0)).mul(c < 16 ? s10 : s11)
                                .fma(FloatVector.fromArray(F, x, x0 + 64 + 32 * k + c), acc1);
                    }
                }
            }
        }
        return acc0.add(acc1).reduceLanes(VectorOperators.ADD);
    }
}

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
 * Q6_K on the Vector API. A chunk reads {@code L} bytes each of {@code ql[l..]}, {@code ql[32+l..]} and
 * {@code qh[l..]} and yields four vectors of quants (values {@code l}, {@code 32+l}, {@code 64+l},
 * {@code 96+l} of the half). Since {@code L} divides 16, every chunk lies in one 16-value sub-block, so
 * products are summed per sub-block and scaled once. {@code dot} decodes one position at a time.
 */
final class VectorQ6KKernel extends ScalarQ6KKernel {

    // Quants q - 32 for the four positions; ql0/ql1/qh are sign-extended bytes, so every field is masked.
    private static IntVector q0(IntVector ql0, IntVector qh) {
        return ql0.and(0xf).or(qh.lanewise(VectorOperators.LSHL, 4).and(0x30)).sub(32);
    }

    private static IntVector q1(IntVector ql1, IntVector qh) {
        return ql1.and(0xf).or(qh.lanewise(VectorOperators.LSHL, 2).and(0x30)).sub(32);
    }

    private static IntVector q2(IntVector ql0, IntVector qh) {
        return ql0.lanewise(VectorOperators.LSHR, 4).and(0xf).or(qh.and(0x30)).sub(32);
    }

    private static IntVector q3(IntVector ql1, IntVector qh) {
        return ql1.lanewise(VectorOperators.LSHR, 4).and(0xf).or(qh.lanewise(VectorOperators.LSHR, 2).and(0x30)).sub(32);
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q6_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo + D);
            for (int h = 0; h < 2; h++) {
                long ql = bo + 64 * h;
                long qh = bo + QH + 32 * h;
                long sc = bo + SCALES + 8 * h;
                int y = dstOffset + b * QK + 128 * h;
                for (int c = 0; c < 32; c += L) {
                    int is = c >> 4;
                    IntVector a = bytesToInts(src, ql + c);
                    IntVector cc = bytesToInts(src, ql + 32 + c);
                    IntVector hb = bytesToInts(src, qh + c);
                    // (d·scale) rounded to float first, then times q: bit-exact with ggml.
                    toFloats(q0(a, hb)).mul(d * src.get(Le.BYTE, sc + is)).intoArray(dst, y + c);
                    toFloats(q1(cc, hb)).mul(d * src.get(Le.BYTE, sc + is + 2)).intoArray(dst, y + 32 + c);
                    toFloats(q2(a, hb)).mul(d * src.get(Le.BYTE, sc + is + 4)).intoArray(dst, y + 64 + c);
                    toFloats(q3(cc, hb)).mul(d * src.get(Le.BYTE, sc + is + 6)).intoArray(dst, y + 96 + c);
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q6_K, n);
        // One copy of the chunk body for all four positions j (see VectorQ8_0Kernel.dot for why): position
        // j of a half takes the low (j < 2) or high nibble of ql[32·(j & 1) + l] and bits 2j..2j+1 of qh[l].
        // The bytes are re-read per position, from L1.
        FloatVector acc = FloatVector.zero(F);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo + D);
            for (int h = 0; h < 2; h++) {
                long qh = bo + QH + 32 * h;
                long sc = bo + SCALES + 8 * h;
                int x0 = xOffset + b * QK + 128 * h;
                for (int j = 0; j < 4; j++) {
                    long ql = bo + 64 * h + 32 * (j & 1);
                    int nibbleShift = 4 * (j >> 1);
                    int highShift = 2 * j;
                    for (int g = 0; g < 2; g++) {
                        FloatVector s = FloatVector.zero(F);
                        for (int c = 16 * g; c < 16 * g + 16; c += L) {
                            IntVector low = bytesToInts(src, ql + c).lanewise(VectorOperators.LSHR, nibbleShift).and(0xf);
                            IntVector high = bytesToInts(src, qh + c).lanewise(VectorOperators.LSHR, highShift).and(3);
                            IntVector q = low.or(high.lanewise(VectorOperators.LSHL, 4)).sub(32);
                            s = toFloats(q).fma(load(x, x0 + 32 * j + c), s);
                        }
                        // Every chunk of group g lies in sub-block 2j + g of the half: scale once.
                        acc = s.fma(FloatVector.broadcast(F, d * src.get(Le.BYTE, sc + 2 * j + g)), acc);
                    }
                }
            }
        }
        return acc.reduceLanes(VectorOperators.ADD);
    }
}

package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q6_K: super-blocks of 256 values in 210 bytes,
 * {@code uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d}. Sixteen sub-blocks of 16 values with
 * signed 8-bit scales. Each half {@code h} of the super-block (128 values) uses {@code ql[64h..]} and
 * {@code qh[32h..]}: for {@code l < 32}, values {@code l, l+32, l+64, l+96} of the half take their low
 * 4 bits from the low nibble of {@code ql[l]}, the low nibble of {@code ql[l+32]}, the high nibble of
 * {@code ql[l]}, the high nibble of {@code ql[l+32]}, and their high 2 bits from bits 0-1, 2-3, 4-5, 6-7
 * of {@code qh[l]}. Value {@code i} is {@code (d·scales[i/16])·(q - 32)}.
 */
class ScalarQ6KKernel implements RowKernel {
    static final int QK = 256;
    static final int BLOCK_BYTES = 210;
    static final int QH = 128;
    static final int SCALES = 192;
    static final int D = 208;

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q6_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo + D);
            int yb = dstOffset + b * QK;
            for (int h = 0; h < 2; h++) {
                long ql = bo + 64 * h;
                long qh = bo + QH + 32 * h;
                long sc = bo + SCALES + 8 * h;
                int y = yb + 128 * h;
                for (int l = 0; l < 32; l++) {
                    int is = l >> 4;
                    int a = src.get(Le.BYTE, ql + l);
                    int c = src.get(Le.BYTE, ql + 32 + l);
                    int hb = src.get(Le.BYTE, qh + l);
                    // d·scale is rounded to float first, exactly as ggml does.
                    dst[y + l] = d * src.get(Le.BYTE, sc + is) * (((a & 0xf) | ((hb & 3) << 4)) - 32);
                    dst[y + 32 + l] = d * src.get(Le.BYTE, sc + is + 2) * (((c & 0xf) | (((hb >> 2) & 3) << 4)) - 32);
                    dst[y + 64 + l] = d * src.get(Le.BYTE, sc + is + 4) * ((((a >> 4) & 0xf) | (((hb >> 4) & 3) << 4)) - 32);
                    dst[y + 96 + l] = d * src.get(Le.BYTE, sc + is + 6) * ((((c >> 4) & 0xf) | (((hb >> 6) & 3) << 4)) - 32);
                }
            }
        }
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q6_K, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int xb = xOffset + b * QK;
            float blockSum = 0;
            for (int h = 0; h < 2; h++) {
                long ql = bo + 64 * h;
                long qh = bo + QH + 32 * h;
                long sc = bo + SCALES + 8 * h;
                int x0 = xb + 128 * h;
                // One pass per group of 16 l's: all four values decoded from a byte share its sub-block scale pattern.
                for (int g = 0; g < 2; g++) {
                    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
                    for (int l = 16 * g; l < 16 * g + 16; l++) {
                        int a = src.get(Le.BYTE, ql + l);
                        int c = src.get(Le.BYTE, ql + 32 + l);
                        int hb = src.get(Le.BYTE, qh + l);
                        s0 += (((a & 0xf) | ((hb & 3) << 4)) - 32) * x[x0 + l];
                        s1 += (((c & 0xf) | (((hb >> 2) & 3) << 4)) - 32) * x[x0 + 32 + l];
                        s2 += ((((a >> 4) & 0xf) | (((hb >> 4) & 3) << 4)) - 32) * x[x0 + 64 + l];
                        s3 += ((((c >> 4) & 0xf) | (((hb >> 6) & 3) << 4)) - 32) * x[x0 + 96 + l];
                    }
                    blockSum += src.get(Le.BYTE, sc + g) * s0 + src.get(Le.BYTE, sc + g + 2) * s1
                            + src.get(Le.BYTE, sc + g + 4) * s2 + src.get(Le.BYTE, sc + g + 6) * s3;
                }
            }
            sum += Le.half(src, bo + D) * blockSum;
        }
        return sum;
    }

    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q6_K, n);
        KQuantizer.Symmetric fit = new KQuantizer.Symmetric();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            KQuantizer.fitSymmetric(src, srcOffset + b * QK, fit);
            for (int h = 0; h < 2; h++) {
                for (int l = 0; l < 32; l++) {
                    int e = 128 * h + l;
                    int q0 = fit.q[e] + 32;
                    int q1 = fit.q[e + 32] + 32;
                    int q2 = fit.q[e + 64] + 32;
                    int q3 = fit.q[e + 96] + 32;
                    dst.set(Le.BYTE, bo + 64 * h + l, (byte) ((q0 & 0xf) | ((q2 & 0xf) << 4)));
                    dst.set(Le.BYTE, bo + 64 * h + 32 + l, (byte) ((q1 & 0xf) | ((q3 & 0xf) << 4)));
                    dst.set(Le.BYTE, bo + QH + 32 * h + l,
                            (byte) ((q0 >> 4) | ((q1 >> 4) << 2) | ((q2 >> 4) << 4) | ((q3 >> 4) << 6)));
                }
            }
            for (int j = 0; j < 16; j++) {
                dst.set(Le.BYTE, bo + SCALES + j, (byte) fit.sc[j]);
            }
            dst.set(Le.SHORT, bo + D, Float.floatToFloat16(fit.d));
        }
    }
}

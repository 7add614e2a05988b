package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * Q3_K: super-blocks of 256 values in 110 bytes, {@code uint8 hmask[32]; uint8 qs[64]; uint8 scales[12];
 * half d}. Sixteen sub-blocks of 16 values with signed 6-bit scales ({@link Q3Scales}). Value
 * {@code 128h + 32s + l} ({@code h} = 0..1, {@code s} = 0..3, {@code l} = 0..31) takes its low 2 bits from
 * bits {@code 2s..2s+1} of {@code qs[32h + l]} and its high bit from bit {@code 4h + s} of {@code hmask[l]};
 * it lies in sub-block {@code 8h + 2s + l/16}. The quant is {@code low2 - 4} when the high bit is clear and
 * {@code low2} when it is set (-4..3); a value is {@code (d·sc)·q}.
 */
class ScalarQ3KKernel implements RowKernel {
    static final int QK = 256;
    static final int BLOCK_BYTES = 110;
    static final int QS = 32;
    static final int SCALES = 96;
    static final int D = 108;

    @Override
    public GgmlType type() {
        return GgmlType.Q3_K;
    }

    @Override
    public void dequantize(MemorySegment src, long offset, float[] dst, int dstOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q3_K, n);
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            float d = Le.half(src, bo + D);
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int c = src.get(Le.INT, bo + SCALES + 8);
            for (int h = 0; h < 2; h++) {
                long scales = h == 0 ? Q3Scales.first(a, bb, c) : Q3Scales.second(a, bb, c);
                long qs = bo + QS + 32 * h;
                for (int s = 0; s < 4; s++) {
                    int y = dstOffset + b * QK + 128 * h + 32 * s;
                    int hbit = 4 * h + s;
                    for (int half = 0; half < 2; half++) {
                        // d·sc is rounded to float first, exactly as ggml does.
                        float dl = d * Q3Scales.get(scales, 2 * s + half);
                        for (int l = 16 * half; l < 16 * half + 16; l++) {
                            dst[y + l] = dl * quant(src.get(Le.BYTE, qs + l), src.get(Le.BYTE, bo + l), 2 * s, hbit);
                        }
                    }
                }
            }
        }
    }

    /** The signed quant (-4..3) with low bits at {@code shift} of {@code q} and high bit {@code hbit} of {@code hm}. */
    static int quant(int q, int hm, int shift, int hbit) {
        return ((q >> shift) & 3) - (((hm >> hbit) & 1) ^ 1) * 4;
    }

    @Override
    public float dot(MemorySegment src, long offset, float[] x, int xOffset, int n) {
        int nb = Rows.blocks(GgmlType.Q3_K, n);
        float sum = 0;
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            int a = src.get(Le.INT, bo + SCALES);
            int bb = src.get(Le.INT, bo + SCALES + 4);
            int c = src.get(Le.INT, bo + SCALES + 8);
            // Σ d·sc_j·q·x = d·Σ_j sc_j·Σ q·x, per sub-block j.
            float blockSum = 0;
            for (int h = 0; h < 2; h++) {
                long scales = h == 0 ? Q3Scales.first(a, bb, c) : Q3Scales.second(a, bb, c);
                long qs = bo + QS + 32 * h;
                for (int s = 0; s < 4; s++) {
                    int x0 = xOffset + b * QK + 128 * h + 32 * s;
                    int hbit = 4 * h + s;
                    for (int half = 0; half < 2; half++) {
                        float qx = 0;
                        for (int l = 16 * half; l < 16 * half + 16; l++) {
                            qx += quant(src.get(Le.BYTE, qs + l), src.get(Le.BYTE, bo + l), 2 * s, hbit) * x[x0 + l];
                        }
                        blockSum += Q3Scales.get(scales, 2 * s + half) * qx;
                    }
                }
            }
            sum += Le.half(src, bo + D) * blockSum;
        }
        return sum;
    }

    /** A simple symmetric fit (see {@link LowBitQuantizer#fitQ3K}), not llama-quantize's search. */
    @Override
    public void quantize(float[] src, int srcOffset, MemorySegment dst, long offset, int n) {
        int nb = Rows.blocks(GgmlType.Q3_K, n);
        LowBitQuantizer.Fit fit = new LowBitQuantizer.Fit();
        for (int b = 0; b < nb; b++) {
            long bo = offset + (long) b * BLOCK_BYTES;
            LowBitQuantizer.fitQ3K(src, srcOffset + b * QK, fit);
            for (int l = 0; l < 32; l++) {
                int hm = 0;
                for (int k = 0; k < 8; k++) {
                    // q + 4 in 0..7: bit 2 is the stored high bit (set means "no -4").
                    hm |= ((fit.q[32 * k + l] + 4) >> 2) << k;
                }
                dst.set(Le.BYTE, bo + l, (byte) hm);
            }
            for (int h = 0; h < 2; h++) {
                for (int l = 0; l < 32; l++) {
                    int e = 128 * h + l;
                    int q = ((fit.q[e] + 4) & 3) | (((fit.q[e + 32] + 4) & 3) << 2)
                            | (((fit.q[e + 64] + 4) & 3) << 4) | (((fit.q[e + 96] + 4) & 3) << 6);
                    dst.set(Le.BYTE, bo + QS + 32 * h + l, (byte) q);
                }
            }
            Q3Scales.encode(fit.sc, dst, bo + SCALES);
            Le.putHalf(dst, bo + D, fit.d);
        }
    }
}

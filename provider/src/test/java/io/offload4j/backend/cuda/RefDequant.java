package io.offload4j.backend.cuda;

import io.offload4j.gguf.GgmlType;
import java.util.SplittableRandom;

/**
 * A plain, independent reading of the GGML block formats (after ggml's {@code dequantize_row_*}),
 * used by the GPU tests as a reference that does not depend on which CPU kernels a branch has. It is
 * itself checked against ggml's own dequantization of the K-quant reference files
 * ({@code CudaKernelsGpuTest#dequantizationMatchesGgml}), and the GPU kernels are compared with the
 * CPU kernels too wherever those support the format.
 */
final class RefDequant {

    private RefDequant() {}

    static float f16(byte[] b, int off) {
        return Float.float16ToFloat((short) ((b[off] & 0xFF) | (b[off + 1] & 0xFF) << 8));
    }

    /** Decodes the row at byte {@code off} with {@code n} elements. Same float operations as ggml. */
    static float[] row(GgmlType type, byte[] b, int off, int n) {
        float[] y = new float[n];
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    int o = off + 4 * i;
                    y[i] = Float.intBitsToFloat((b[o] & 0xFF) | (b[o + 1] & 0xFF) << 8 | (b[o + 2] & 0xFF) << 16
                            | (b[o + 3] & 0xFF) << 24);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    y[i] = f16(b, off + 2 * i);
                }
            }
            case BF16 -> {
                for (int i = 0; i < n; i++) {
                    int bits = (b[off + 2 * i] & 0xFF) | (b[off + 2 * i + 1] & 0xFF) << 8;
                    y[i] = Float.intBitsToFloat(bits << 16);
                }
            }
            case Q8_0 -> {
                for (int blk = 0; blk < n / 32; blk++) {
                    int o = off + 34 * blk;
                    float d = f16(b, o);
                    for (int j = 0; j < 32; j++) {
                        y[32 * blk + j] = b[o + 2 + j] * d;
                    }
                }
            }
            case Q4_0 -> {
                for (int blk = 0; blk < n / 32; blk++) {
                    int o = off + 18 * blk;
                    float d = f16(b, o);
                    for (int j = 0; j < 16; j++) {
                        int q = b[o + 2 + j] & 0xFF;
                        y[32 * blk + j] = ((q & 0xF) - 8) * d;
                        y[32 * blk + j + 16] = ((q >> 4) - 8) * d;
                    }
                }
            }
            case Q4_1 -> {
                for (int blk = 0; blk < n / 32; blk++) {
                    int o = off + 20 * blk;
                    float d = f16(b, o);
                    float m = f16(b, o + 2);
                    for (int j = 0; j < 16; j++) {
                        int q = b[o + 4 + j] & 0xFF;
                        y[32 * blk + j] = (q & 0xF) * d + m;
                        y[32 * blk + j + 16] = (q >> 4) * d + m;
                    }
                }
            }
            case Q4_K, Q5_K -> {
                boolean five = type == GgmlType.Q5_K;
                int bs = five ? 176 : 144;
                for (int blk = 0; blk < n / 256; blk++) {
                    int o = off + bs * blk;
                    float d = f16(b, o);
                    float dmin = f16(b, o + 2);
                    int sc = o + 4;
                    int qh = o + 16;
                    int qs = o + (five ? 48 : 16);
                    for (int c = 0; c < 4; c++) {
                        int[] s1 = scaleMin(b, sc, 2 * c);
                        int[] s2 = scaleMin(b, sc, 2 * c + 1);
                        float d1 = d * s1[0];
                        float m1 = dmin * s1[1];
                        float d2 = d * s2[0];
                        float m2 = dmin * s2[1];
                        for (int l = 0; l < 32; l++) {
                            int q = b[qs + 32 * c + l] & 0xFF;
                            int lo = q & 0xF;
                            int hi = q >> 4;
                            if (five) {
                                int h = b[qh + l] & 0xFF;
                                lo |= ((h >> (2 * c)) & 1) << 4;
                                hi |= ((h >> (2 * c + 1)) & 1) << 4;
                            }
                            y[256 * blk + 64 * c + l] = d1 * lo - m1;
                            y[256 * blk + 64 * c + 32 + l] = d2 * hi - m2;
                        }
                    }
                }
            }
            case Q6_K -> {
                for (int blk = 0; blk < n / 256; blk++) {
                    int o = off + 210 * blk;
                    float d = f16(b, o + 208);
                    for (int half = 0; half < 2; half++) {
                        int ql = o + 64 * half;
                        int qh = o + 128 + 32 * half;
                        int sc = o + 192 + 8 * half;
                        int base = 256 * blk + 128 * half;
                        for (int l = 0; l < 32; l++) {
                            int is = l / 16;
                            int a = b[ql + l] & 0xFF;
                            int c = b[ql + l + 32] & 0xFF;
                            int h = b[qh + l] & 0xFF;
                            int q1 = ((a & 0xF) | ((h & 3) << 4)) - 32;
                            int q2 = ((c & 0xF) | (((h >> 2) & 3) << 4)) - 32;
                            int q3 = ((a >> 4) | (((h >> 4) & 3) << 4)) - 32;
                            int q4 = ((c >> 4) | (((h >> 6) & 3) << 4)) - 32;
                            y[base + l] = d * b[sc + is] * q1;
                            y[base + l + 32] = d * b[sc + is + 2] * q2;
                            y[base + l + 64] = d * b[sc + is + 4] * q3;
                            y[base + l + 96] = d * b[sc + is + 6] * q4;
                        }
                    }
                }
            }
            case Q5_0, Q5_1 -> {
                boolean one = type == GgmlType.Q5_1;
                int bs = one ? 24 : 22;
                for (int blk = 0; blk < n / 32; blk++) {
                    int o = off + bs * blk;
                    float d = f16(b, o);
                    float m = one ? f16(b, o + 2) : 0;
                    int qhAt = o + (one ? 4 : 2);
                    long qh = (b[qhAt] & 0xFFL) | (b[qhAt + 1] & 0xFFL) << 8 | (b[qhAt + 2] & 0xFFL) << 16
                            | (b[qhAt + 3] & 0xFFL) << 24;
                    for (int j = 0; j < 16; j++) {
                        int q = b[qhAt + 4 + j] & 0xFF;
                        int x0 = (q & 0xF) | (int) ((qh >> j) & 1) << 4;
                        int x1 = (q >> 4) | (int) ((qh >> (j + 16)) & 1) << 4;
                        if (one) {
                            y[32 * blk + j] = x0 * d + m;
                            y[32 * blk + j + 16] = x1 * d + m;
                        } else {
                            y[32 * blk + j] = (x0 - 16) * d;
                            y[32 * blk + j + 16] = (x1 - 16) * d;
                        }
                    }
                }
            }
            case Q2_K -> {
                for (int blk = 0; blk < n / 256; blk++) {
                    int o = off + 84 * blk;
                    float d = f16(b, o + 80);
                    float min = f16(b, o + 82);
                    int yi = 256 * blk;
                    int is = 0;
                    for (int half = 0; half < 2; half++) {
                        int q = o + 16 + 32 * half;
                        for (int shift = 0; shift < 8; shift += 2) {
                            for (int part = 0; part < 2; part++) {
                                int sc = b[o + is++] & 0xFF;
                                float dl = d * (sc & 0xF);
                                float ml = min * (sc >> 4);
                                for (int l = 0; l < 16; l++) {
                                    y[yi++] = dl * (((b[q + 16 * part + l] & 0xFF) >> shift) & 3) - ml;
                                }
                            }
                        }
                    }
                }
            }
            case Q3_K -> {
                for (int blk = 0; blk < n / 256; blk++) {
                    int o = off + 110 * blk;
                    float d = f16(b, o + 108);
                    int[] scales = new int[16];
                    for (int j = 0; j < 16; j++) {
                        int low = ((b[o + 96 + (j % 8)] & 0xFF) >> (j < 8 ? 0 : 4)) & 0xF;
                        int high = ((b[o + 96 + 8 + (j % 4)] & 0xFF) >> (2 * (j / 4))) & 3;
                        scales[j] = (low | high << 4) - 32;
                    }
                    int yi = 256 * blk;
                    int is = 0;
                    int mask = 1;
                    for (int half = 0; half < 2; half++) {
                        int q = o + 32 + 32 * half;
                        for (int shift = 0; shift < 8; shift += 2) {
                            for (int part = 0; part < 2; part++) {
                                float dl = d * scales[is++];
                                for (int l = 16 * part; l < 16 * part + 16; l++) {
                                    int low = ((b[q + l] & 0xFF) >> shift) & 3;
                                    int sub = (b[o + l] & mask) != 0 ? 0 : 4;
                                    y[yi++] = dl * (low - sub);
                                }
                            }
                            mask <<= 1;
                        }
                    }
                }
            }
            case IQ4_NL -> {
                for (int blk = 0; blk < n / 32; blk++) {
                    int o = off + 18 * blk;
                    float d = f16(b, o);
                    for (int j = 0; j < 16; j++) {
                        int q = b[o + 2 + j] & 0xFF;
                        y[32 * blk + j] = d * IQ4_LEVELS[q & 0xF];
                        y[32 * blk + j + 16] = d * IQ4_LEVELS[q >> 4];
                    }
                }
            }
            case IQ4_XS -> {
                for (int blk = 0; blk < n / 256; blk++) {
                    int o = off + 136 * blk;
                    float d = f16(b, o);
                    int scalesH = (b[o + 2] & 0xFF) | (b[o + 3] & 0xFF) << 8;
                    for (int ib = 0; ib < 8; ib++) {
                        int ls = (((b[o + 4 + ib / 2] & 0xFF) >> (4 * (ib % 2))) & 0xF) | ((scalesH >> (2 * ib)) & 3) << 4;
                        float dl = d * (ls - 32);
                        for (int j = 0; j < 16; j++) {
                            int q = b[o + 8 + 16 * ib + j] & 0xFF;
                            y[256 * blk + 32 * ib + j] = dl * IQ4_LEVELS[q & 0xF];
                            y[256 * blk + 32 * ib + j + 16] = dl * IQ4_LEVELS[q >> 4];
                        }
                    }
                }
            }
            default -> throw new IllegalArgumentException("no reference for " + type);
        }
        return y;
    }

    /** ggml's kvalues_iq4nl. */
    private static final int[] IQ4_LEVELS = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    /** ggml's get_scale_min_k4. */
    private static int[] scaleMin(byte[] b, int sc, int j) {
        if (j < 4) {
            return new int[] {b[sc + j] & 63, b[sc + j + 4] & 63};
        }
        int hi = b[sc + j + 4] & 0xFF;
        return new int[] {(hi & 0xF) | (((b[sc + j - 4] & 0xFF) >> 6) << 4), (hi >> 4) | (((b[sc + j] & 0xFF) >> 6) << 4)};
    }

    /**
     * Random rows in {@code type}'s block format: random quant bytes, with every fp16 scale field set to a
     * finite value of realistic size so the decoded weights look like a trained layer's (|w| ≲ 0.1).
     */
    static byte[] randomRows(GgmlType type, int rows, int cols, SplittableRandom rnd) {
        long rowBytes = type.bytesFor(cols);
        byte[] b = new byte[Math.toIntExact(rowBytes * rows)];
        switch (type) {
            case F32 -> {
                for (int i = 0; i < rows * cols; i++) {
                    putInt(b, 4 * i, Float.floatToIntBits((float) (rnd.nextDouble() * 0.2 - 0.1)));
                }
            }
            case F16 -> {
                for (int i = 0; i < rows * cols; i++) {
                    putShort(b, 2 * i, Float.floatToFloat16((float) (rnd.nextDouble() * 0.2 - 0.1)));
                }
            }
            case BF16 -> {
                for (int i = 0; i < rows * cols; i++) {
                    putShort(b, 2 * i, (short) (Float.floatToIntBits((float) (rnd.nextDouble() * 0.2 - 0.1)) >>> 16));
                }
            }
            default -> {
                rnd.nextBytes(b);
                int bpb = type.bytesPerBlock();
                int[] halves = switch (type) {
                    case Q8_0, Q4_0, Q5_0, IQ4_NL, IQ4_XS -> new int[] {0};
                    case Q4_1, Q5_1, Q4_K, Q5_K -> new int[] {0, 2};
                    case Q6_K -> new int[] {208};
                    case Q3_K -> new int[] {108};
                    case Q2_K -> new int[] {80, 82};
                    default -> throw new IllegalArgumentException("no generator for " + type);
                };
                double scale = switch (type) {
                    case Q8_0 -> 0.1 / 127;
                    case Q4_0, Q4_1 -> 0.1 / 8;
                    case Q5_0, Q5_1 -> 0.1 / 16;
                    case Q4_K, Q5_K -> 0.1 / 16 / 63;
                    case Q6_K -> 0.1 / 32 / 127;
                    case Q2_K -> 0.1 / 3 / 15;
                    case Q3_K -> 0.1 / 4 / 32;
                    case IQ4_NL -> 0.1 / 127;
                    case IQ4_XS -> 0.1 / 127 / 32;
                    default -> 0;
                };
                for (int blk = 0; blk < b.length / bpb; blk++) {
                    for (int h : halves) {
                        double v = scale * (0.25 + rnd.nextDouble());
                        if ((type == GgmlType.Q4_1 || type == GgmlType.Q5_1) && h == 2) {
                            v = -0.05 * rnd.nextDouble();  // the min of a Q4_1 / Q5_1 block
                        }
                        putShort(b, blk * bpb + h, Float.floatToFloat16((float) v));
                    }
                }
            }
        }
        return b;
    }

    static void putShort(byte[] b, int off, short v) {
        b[off] = (byte) v;
        b[off + 1] = (byte) (v >> 8);
    }

    static void putInt(byte[] b, int off, int v) {
        for (int i = 0; i < 4; i++) {
            b[off + i] = (byte) (v >> (8 * i));
        }
    }
}

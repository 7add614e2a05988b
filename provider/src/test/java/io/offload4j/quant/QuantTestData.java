package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/** Builders of test rows shared by the quant tests. */
final class QuantTestData {
    static final ValueLayout.OfShort LE_SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** The formats this package implements. */
    static final GgmlType[] FORMATS = {
        GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
        GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K,
        GgmlType.Q3_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS
    };

    private QuantTestData() {}

    static float[] gaussian(Random r, int n) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /**
     * {@code blocks} blocks of random bytes, with every half-precision scale replaced by a random
     * finite value of moderate size (random bits there could be Inf/NaN, which make every comparison
     * meaningless). All quant bit patterns, scale codes and signs occur.
     */
    static byte[] randomBlocks(GgmlType type, int blocks, Random r) {
        byte[] b = new byte[Math.toIntExact(type.bytesFor((long) blocks * type.blockSize()))];
        r.nextBytes(b);
        MemorySegment s = MemorySegment.ofArray(b);
        int bpb = type.bytesPerBlock();
        for (int k = 0; k < blocks; k++) {
            long o = (long) k * bpb;
            switch (type) {
                case F32 -> s.set(LE_FLOAT, o, (float) r.nextGaussian());
                case F16 -> s.set(LE_SHORT, o, Float.floatToFloat16((float) r.nextGaussian()));
                case BF16 -> s.set(LE_SHORT, o, (short) (Float.floatToRawIntBits((float) r.nextGaussian()) >>> 16));
                case Q8_0, Q4_0, Q5_0, IQ4_NL, IQ4_XS -> s.set(LE_SHORT, o, randomScale(r));
                case Q4_1, Q4_K, Q5_K, Q5_1 -> {
                    s.set(LE_SHORT, o, randomScale(r));
                    s.set(LE_SHORT, o + 2, randomScale(r));
                }
                case Q6_K -> s.set(LE_SHORT, o + 208, randomScale(r));
                case Q3_K -> s.set(LE_SHORT, o + 108, randomScale(r));
                case Q2_K -> {
                    s.set(LE_SHORT, o + 80, randomScale(r));
                    s.set(LE_SHORT, o + 82, randomScale(r));
                }
                default -> throw new IllegalArgumentException(type.toString());
            }
        }
        return b;
    }

    /** A half between about ±1e-3 and ±1e-1, of either sign. */
    private static short randomScale(Random r) {
        float v = (float) (Math.pow(10, -3 + 2 * r.nextDouble()) * (r.nextBoolean() ? 1 : -1));
        return Float.floatToFloat16(v);
    }

    /** Quantizes {@code x} with {@code kernel} into a fresh heap segment. */
    static MemorySegment quantize(RowKernel kernel, float[] x) {
        MemorySegment s = MemorySegment.ofArray(new byte[Math.toIntExact(kernel.type().bytesFor(x.length))]);
        kernel.quantize(x, 0, s, 0, x.length);
        return s;
    }

    /** A copy of {@code bytes} at byte {@code offset} of a larger segment (heap or native). */
    static MemorySegment placeAt(byte[] bytes, int offset, MemorySegment target) {
        MemorySegment.copy(MemorySegment.ofArray(bytes), 0, target, offset, bytes.length);
        return target;
    }

    /** Σ w[i]·x[xOff+i] in double. */
    static double dot(float[] w, float[] x, int xOff) {
        double s = 0;
        for (int i = 0; i < w.length; i++) {
            s += (double) w[i] * x[xOff + i];
        }
        return s;
    }

    /** Σ |w[i]·x[xOff+i]|: the scale against which a float dot's rounding error is judged. */
    static double absDot(float[] w, float[] x, int xOff) {
        double s = 0;
        for (int i = 0; i < w.length; i++) {
            s += Math.abs((double) w[i] * x[xOff + i]);
        }
        return s;
    }

    /** Distance in units in the last place between two floats of the same sign (MAX_VALUE otherwise). */
    static int ulps(float a, float b) {
        if (Float.floatToRawIntBits(a) == Float.floatToRawIntBits(b)) {
            return 0;
        }
        if (a == b) {
            return 0; // +0 and -0
        }
        if (Math.signum(a) != Math.signum(b) || Float.isNaN(a) || Float.isNaN(b)) {
            return Integer.MAX_VALUE;
        }
        return Math.abs(Float.floatToRawIntBits(a) - Float.floatToRawIntBits(b));
    }
}

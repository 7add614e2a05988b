package io.offload4j.quant;

/**
 * Simple encoders for Q2_K, Q3_K and IQ4_XS super-blocks, used to build synthetic test and benchmark
 * models (as {@link KQuantizer} does for Q4_K-Q6_K: sub-block scales from the sub-block's own range,
 * those quantized against a half-precision super-block scale, then every value rounded to the nearest
 * level of the scale a decoder will actually use). llama-quantize searches scales and does better;
 * {@code QuantizeRoundTripTest} measures these.
 */
final class LowBitQuantizer {
    static final int QK_K = 256;

    private LowBitQuantizer() {}

    /** One super-block's fit: scales {@code sc}, mins {@code m} (Q2_K only) and quants or codes {@code q}. */
    static final class Fit {
        float d;
        float dmin;
        final int[] sc = new int[16];
        final int[] m = new int[16];
        final int[] q = new int[QK_K];
    }

    /** The value of largest magnitude among {@code x[off..off+n)}, with its sign (the first such). */
    static float signedMax(float[] x, int off, int n) {
        float amax = 0;
        float max = 0;
        for (int i = 0; i < n; i++) {
            float v = x[off + i];
            if (amax < Math.abs(v)) {
                amax = Math.abs(v);
                max = v;
            }
        }
        return max;
    }

    /** Q2_K: x ≈ d·sc[j]·q - dmin·m[j] for sub-blocks of 16, sc and m in 0..15, q in 0..3. */
    static void fitQ2K(float[] x, int off, Fit out) {
        float[] scale = new float[16];
        float[] offs = new float[16];
        float maxScale = 0;
        float maxOff = 0;
        for (int j = 0; j < 16; j++) {
            // The format subtracts a non-negative min, so the range must include 0.
            float lo = 0;
            float hi = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < 16; i++) {
                float v = x[off + 16 * j + i];
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            scale[j] = (hi - lo) / 3;
            offs[j] = -lo;
            maxScale = Math.max(maxScale, scale[j]);
            maxOff = Math.max(maxOff, offs[j]);
        }
        out.d = Le.roundToHalf(maxScale / 15);
        out.dmin = Le.roundToHalf(maxOff / 15);
        for (int j = 0; j < 16; j++) {
            out.sc[j] = out.d > 0 ? QuantMath.clamp(QuantMath.roundAway(scale[j] / out.d), 0, 15) : 0;
            out.m[j] = out.dmin > 0 ? QuantMath.clamp(QuantMath.roundAway(offs[j] / out.dmin), 0, 15) : 0;
            float s = out.d * out.sc[j];
            float mn = out.dmin * out.m[j];
            for (int i = 0; i < 16; i++) {
                int k = 16 * j + i;
                out.q[k] = s > 0 ? QuantMath.clamp(QuantMath.roundAway((x[off + k] + mn) / s), 0, 3) : 0;
            }
        }
    }

    /**
     * Q3_K: x ≈ d·sc[j]·q for sub-blocks of 16, sc in -32..31, q in -4..3. Each sub-block's scale maps
     * its value of largest magnitude to -4 (the extra level on the negative side then serves whichever
     * sign that value has).
     */
    static void fitQ3K(float[] x, int off, Fit out) {
        float[] scale = new float[16];
        float maxScale = 0;
        for (int j = 0; j < 16; j++) {
            scale[j] = signedMax(x, off + 16 * j, 16) / -4;
            maxScale = Math.max(maxScale, Math.abs(scale[j]));
        }
        out.d = Le.roundToHalf(maxScale / 31);
        for (int j = 0; j < 16; j++) {
            out.sc[j] = out.d > 0 ? QuantMath.clamp(QuantMath.roundAway(scale[j] / out.d), -32, 31) : 0;
            float s = out.d * out.sc[j];
            for (int i = 0; i < 16; i++) {
                int k = 16 * j + i;
                out.q[k] = s != 0 ? QuantMath.clamp(QuantMath.roundAway(x[off + k] / s), -4, 3) : 0;
            }
        }
    }

    /**
     * IQ4_XS: x ≈ d·sc[j]·LEVELS[q] for sub-blocks of 32, sc in -32..31, q a code 0..15. Each sub-block's
     * scale maps its value of largest magnitude to the outermost level, -127.
     */
    static void fitIq4Xs(float[] x, int off, Fit out) {
        float[] scale = new float[8];
        float maxScale = 0;
        for (int j = 0; j < 8; j++) {
            scale[j] = signedMax(x, off + 32 * j, 32) / -127;
            maxScale = Math.max(maxScale, Math.abs(scale[j]));
        }
        out.d = Le.roundToHalf(maxScale / 31);
        for (int j = 0; j < 8; j++) {
            out.sc[j] = out.d > 0 ? QuantMath.clamp(QuantMath.roundAway(scale[j] / out.d), -32, 31) : 0;
            float s = out.d * out.sc[j];
            float is = s != 0 ? 1 / s : 0;
            for (int i = 0; i < 32; i++) {
                int k = 32 * j + i;
                out.q[k] = s != 0 ? Iq4Values.nearest(x[off + k] * is) : Iq4Values.nearest(0);
            }
        }
    }
}

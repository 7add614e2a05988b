package io.offload4j.quant;

/**
 * Simple encoders for the K-quant super-blocks, used to build synthetic test and benchmark models
 * (not llama.cpp's iterative search, so their error is somewhat larger than {@code llama-quantize}'s;
 * {@code QuantizeRoundTripTest} measures it). Each fits sub-block scales from the sub-block's own
 * min/max, quantizes those scales to 6 or 8 bits against a half-precision super-block scale, then
 * rounds every value to the nearest level of the scale a decoder will actually use.
 */
final class KQuantizer {
    static final int QK_K = 256;

    private KQuantizer() {}

    /** Result of {@link #fitAsymmetric}: x ≈ d·sc[j]·q - dmin·m[j] for value {@code i} of sub-block {@code j = i / 32}. */
    static final class Asymmetric {
        float d;
        float dmin;
        final int[] sc = new int[8];
        final int[] m = new int[8];
        final int[] q = new int[QK_K];
    }

    /** Fits one Q4_K ({@code maxQ = 15}) or Q5_K ({@code maxQ = 31}) super-block of 8 sub-blocks of 32. */
    static void fitAsymmetric(float[] x, int off, int maxQ, Asymmetric out) {
        float[] scale = new float[8];
        float[] offs = new float[8];
        float maxScale = 0;
        float maxOff = 0;
        for (int j = 0; j < 8; j++) {
            // The format subtracts a non-negative min, so the range must include 0.
            float lo = 0;
            float hi = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < 32; i++) {
                float v = x[off + 32 * j + i];
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
            scale[j] = (hi - lo) / maxQ;
            offs[j] = -lo;
            maxScale = Math.max(maxScale, scale[j]);
            maxOff = Math.max(maxOff, offs[j]);
        }
        // The decoder sees the scales as halves: fit the 6-bit values against those.
        out.d = Le.roundToHalf(maxScale / 63);
        out.dmin = Le.roundToHalf(maxOff / 63);
        for (int j = 0; j < 8; j++) {
            out.sc[j] = out.d > 0 ? QuantMath.clamp(QuantMath.roundAway(scale[j] / out.d), 0, 63) : 0;
            out.m[j] = out.dmin > 0 ? QuantMath.clamp(QuantMath.roundAway(offs[j] / out.dmin), 0, 63) : 0;
            float s = out.d * out.sc[j];
            float mn = out.dmin * out.m[j];
            for (int i = 0; i < 32; i++) {
                int k = 32 * j + i;
                out.q[k] = s > 0 ? QuantMath.clamp(QuantMath.roundAway((x[off + k] + mn) / s), 0, maxQ) : 0;
            }
        }
    }

    /** Result of {@link #fitSymmetric}: x ≈ d·sc[j]·q for value {@code i} of sub-block {@code j = i / 16}, q in -32..31. */
    static final class Symmetric {
        float d;
        final int[] sc = new int[16];
        final int[] q = new int[QK_K];
    }

    /** Fits one Q6_K super-block of 16 sub-blocks of 16, with signed 8-bit sub-block scales. */
    static void fitSymmetric(float[] x, int off, Symmetric out) {
        float[] scale = new float[16];
        float maxScale = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0;
            for (int i = 0; i < 16; i++) {
                amax = Math.max(amax, Math.abs(x[off + 16 * j + i]));
            }
            // ±31 keeps the grid symmetric; level -32 is left unused.
            scale[j] = amax / 31;
            maxScale = Math.max(maxScale, scale[j]);
        }
        out.d = Le.roundToHalf(maxScale / 127);
        for (int j = 0; j < 16; j++) {
            out.sc[j] = out.d > 0 ? QuantMath.clamp(QuantMath.roundAway(scale[j] / out.d), 0, 127) : 0;
            float s = out.d * out.sc[j];
            for (int i = 0; i < 16; i++) {
                int k = 16 * j + i;
                out.q[k] = s > 0 ? QuantMath.clamp(QuantMath.roundAway(x[off + k] / s), -32, 31) : 0;
            }
        }
    }
}

package io.offload4j.quant;

/**
 * The 16 levels of ggml's non-linear 4-bit formats IQ4_NL and IQ4_XS ({@code kvalues_iq4nl}): a 4-bit
 * code indexes this table, and the level times the block scale is the value. The levels are denser near
 * zero, where trained weights are.
 */
final class Iq4Values {
    /** ggml's table, in code order (ascending). */
    static final byte[] LEVELS = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
    /** The same as ints, for the Vector API kernels' table lookups. */
    static final int[] INT_LEVELS = new int[16];

    static {
        for (int i = 0; i < 16; i++) {
            INT_LEVELS[i] = LEVELS[i];
        }
    }

    private Iq4Values() {}

    /** The code whose level is nearest to {@code v} (in level units); ties go to the lower code. */
    static int nearest(float v) {
        int best = 0;
        float bestErr = Math.abs(v - LEVELS[0]);
        for (int i = 1; i < 16; i++) {
            float err = Math.abs(v - LEVELS[i]);
            if (err < bestErr) {
                bestErr = err;
                best = i;
            }
        }
        return best;
    }
}

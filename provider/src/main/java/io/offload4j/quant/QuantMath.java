package io.offload4j.quant;

/** Rounding helpers for the quantizers (not a hot path). */
final class QuantMath {
    private QuantMath() {}

    /**
     * C's {@code roundf}: nearest integer, halves away from zero (ggml's quantizers use it; Java's
     * {@link Math#round} sends halves towards +infinity). Done in double, where |v| + 0.5 is exact.
     */
    static int roundAway(float v) {
        double a = Math.floor(Math.abs((double) v) + 0.5);
        return (int) (v < 0 ? -a : a);
    }

    static int clamp(int v, int lo, int hi) {
        return Math.max(lo, Math.min(hi, v));
    }
}

package io.offload4j.backend.cpu;

/** GELU, exact (BERT's {@code gelu}: x·Φ(x) with the error function) and in its tanh approximation. */
final class Gelu {

    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

    private Gelu() {}

    /** Φ tabulated on [-{@link #RANGE}, {@link #RANGE}] every 1/{@link #STEPS_PER_UNIT}. */
    private static final int RANGE = 8;
    private static final int STEPS_PER_UNIT = 512;
    private static final float[] PHI = new float[2 * RANGE * STEPS_PER_UNIT + 2];

    static {
        for (int i = 0; i < PHI.length; i++) {
            double x = (double) i / STEPS_PER_UNIT - RANGE;
            PHI[i] = (float) (0.5 * (1 + erf(x * SQRT_HALF)));
        }
    }

    /**
     * x·Φ(x), Φ the normal distribution function, by linear interpolation in a table (no exp per call: this runs
     * for every element of every feed-forward layer). Interpolation errs by at most h²/8·max|Φ''| ≈ 1.2e-7 at
     * h = 1/512, below float resolution near 1; beyond ±8, Φ is 0 or 1 in float.
     */
    static float exact(float x) {
        if (x <= -RANGE) {
            return 0f;
        }
        if (x >= RANGE) {
            return x;
        }
        float u = (x + RANGE) * STEPS_PER_UNIT;
        int i = (int) u;
        float f = u - i;
        return x * (PHI[i] + f * (PHI[i + 1] - PHI[i]));
    }

    /** x·Φ(x) from the error function itself, for tests of {@link #exact}. */
    static double exactReference(double x) {
        return 0.5 * x * (1 + erf(x * SQRT_HALF));
    }

    static float tanh(float x) {
        return (float) (0.5 * x * (1 + Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))));
    }

    /**
     * The error function from the Chebyshev fit of erfc in Numerical Recipes (fractional error below 1.2e-7 everywhere,
     * under float precision for GELU's purposes); Java has no erf of its own.
     */
    static double erf(double x) {
        double z = Math.abs(x);
        double t = 1 / (1 + 0.5 * z);
        double erfc = t * Math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? 1 - erfc : erfc - 1;
    }
}

package io.offload4j.backend.cpu;

/** GELU, exact (BERT's {@code gelu}: x·Φ(x) with the error function) and in its tanh approximation. */
final class Gelu {

    private static final double SQRT_HALF = Math.sqrt(0.5);
    private static final double SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

    private Gelu() {}

    static float exact(float x) {
        return (float) (0.5 * x * (1 + erf(x * SQRT_HALF)));
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

package io.offload4j.model;

/** The rotary embedding's inverse frequencies, computed once for every device so that their angles agree exactly. */
public final class RopeFrequencies {

    private RopeFrequencies() {}

    /** θ_i = base^(-2i/d), divided by linear scaling and the Llama 3.1-style frequency factors (when present). */
    public static double[] inverse(ModelConfig c, float[] factors) {
        int half = c.ropeDimensions() / 2;
        double[] f = new double[half];
        double linear = c.ropeScaling().type() == RopeScaling.Type.LINEAR ? c.ropeScaling().factor() : 1.0;
        for (int i = 0; i < half; i++) {
            f[i] = Math.pow(c.ropeFreqBase(), -2.0 * i / c.ropeDimensions()) / linear;
            if (factors != null) {
                f[i] /= factors[i];
            }
        }
        return f;
    }
}

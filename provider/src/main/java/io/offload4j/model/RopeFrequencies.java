package io.offload4j.model;

/** The rotary embedding's inverse frequencies, computed once for every device so that their angles agree exactly. */
public final class RopeFrequencies {

    private RopeFrequencies() {}

    /**
     * The inverse frequencies of a model prepared for sequences of up to {@code context} positions: with
     * {@link ModelWeights#longRope()} its short or long divisors (see {@link LongRope#factorsFor}), else the
     * {@code rope_freqs} divisors, if any.
     */
    public static double[] inverse(ModelConfig c, ModelWeights w, int context) {
        return inverse(c, w.longRope() != null ? w.longRope().factorsFor(context) : w.ropeFrequencyFactors());
    }

    /**
     * What cos and sin are multiplied by: LongRoPE's attention factor, else 1. transformers and llama.cpp scale
     * the rotated dimensions only (with a partial rotary factor the others stay as they are), so it cannot be
     * folded into the attention scale; every device multiplies its float cos and sin by it.
     */
    public static float magnitude(ModelWeights w) {
        return w.longRope() != null ? w.longRope().attentionFactor() : 1f;
    }

    /** θ_i = base^(-2i/d), divided by linear scaling and the Llama 3.1-style frequency factors (when present). */
    public static double[] inverse(ModelConfig c, float[] factors) {
        return inverse(c.ropeDimensions(), c.ropeFreqBase(), c.ropeScaling(), factors);
    }

    /**
     * The frequencies of sliding-window blocks ({@link ModelTraits#slidingRopeBase()} and scaling: Gemma 3's local
     * blocks turn slower than its global ones); the same as {@link #inverse} for models whose blocks all share one.
     */
    public static double[] inverseSliding(ModelConfig c, float[] factors) {
        ModelTraits t = c.traits();
        return inverse(c.ropeDimensions(), t.slidingRopeBase(), t.slidingRopeScaling(), factors);
    }

    /**
     * The frequencies of sliding-window blocks of a model prepared for {@code context} positions: the model's own
     * ({@link #inverse(ModelConfig, ModelWeights, int)}, LongRoPE included) where the sliding blocks share its RoPE
     * base and scaling (Mistral, Phi-3, Gemma 2), else {@link #inverseSliding(ModelConfig, float[])} (Gemma 3).
     */
    public static double[] inverseSliding(ModelConfig c, ModelWeights w, int context) {
        ModelTraits t = c.traits();
        if (t.slidingRopeBase() == c.ropeFreqBase() && t.slidingRopeScaling().equals(c.ropeScaling())) {
            return inverse(c, w, context);
        }
        return inverseSliding(c, w.ropeFrequencyFactors());
    }

    private static double[] inverse(int dims, float base, RopeScaling scaling, float[] factors) {
        int half = dims / 2;
        double[] f = new double[half];
        double linear = scaling.type() == RopeScaling.Type.LINEAR ? scaling.factor() : 1.0;
        for (int i = 0; i < half; i++) {
            f[i] = Math.pow(base, -2.0 * i / dims) / linear;
            if (factors != null) {
                f[i] /= factors[i];
            }
        }
        return f;
    }
}

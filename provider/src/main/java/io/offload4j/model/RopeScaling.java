package io.offload4j.model;

/**
 * How rotary frequencies are adjusted for contexts longer than the model was trained on.
 * Llama 3.1/3.2 GGUF files carry their frequency factors as the {@code rope_freqs.weight} tensor
 * instead (see {@link ModelWeights#ropeFrequencyFactors()}).
 *
 * @param type                  none or linear
 * @param factor                linear: positions are divided by this
 * @param originalContextLength the context the model was trained on (informational)
 */
public record RopeScaling(Type type, float factor, int originalContextLength) {

    public enum Type { NONE, LINEAR }

    public static final RopeScaling NONE = new RopeScaling(Type.NONE, 1f, 0);
}

package io.offload4j.embedding;

/** How one vector is made from the hidden states of a text's tokens. */
public enum Pooling {
    /** The first token's ([CLS]) hidden state: BERT models trained that way (bge, many cross-encoders). */
    CLS,
    /** The mean over every token, special ones included, as sentence-transformers computes it. */
    MEAN,
    /** The last token's hidden state: decoder embedding models (Qwen3-Embedding, gte-Qwen2), whose last token sees all. */
    LAST;

    /** Pools rows {@code first .. first+count)} of {@code hidden} ({@code dim} wide) into {@code out}. */
    void pool(float[] hidden, int first, int count, int dim, float[] out) {
        switch (this) {
            case CLS -> System.arraycopy(hidden, first * dim, out, 0, dim);
            case LAST -> System.arraycopy(hidden, (first + count - 1) * dim, out, 0, dim);
            case MEAN -> {
                double[] sum = new double[dim];
                for (int t = first; t < first + count; t++) {
                    for (int i = 0; i < dim; i++) {
                        sum[i] += hidden[t * dim + i];
                    }
                }
                for (int i = 0; i < dim; i++) {
                    out[i] = (float) (sum[i] / count);
                }
            }
        }
    }

    /** {@code cls}, {@code mean}, {@code last} (also {@code lasttoken}, sentence-transformers' spelling). */
    public static Pooling parse(String name) {
        return switch (name.trim().toLowerCase(java.util.Locale.ROOT).replace("_", "").replace("-", "")) {
            case "cls" -> CLS;
            case "mean" -> MEAN;
            case "last", "lasttoken" -> LAST;
            default -> throw new IllegalArgumentException("pooling '" + name + "' is not one of cls, mean, last");
        };
    }

    /** Scales {@code v} to unit length (a zero vector stays zero). */
    static void normalize(float[] v) {
        double ss = 0;
        for (float f : v) {
            ss += (double) f * f;
        }
        if (ss == 0) {
            return;
        }
        float inv = (float) (1 / Math.sqrt(ss));
        for (int i = 0; i < v.length; i++) {
            v[i] *= inv;
        }
    }
}

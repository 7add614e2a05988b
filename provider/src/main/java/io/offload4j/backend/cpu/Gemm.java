package io.offload4j.backend.cpu;

/**
 * The float matrix–matrix kernel of batched prefill: a few decoded weight rows against every token
 * of a chunk. Implementations are stateless, thread-safe and allocate nothing.
 */
interface Gemm {

    /**
     * For {@code i < rows} and {@code t < count}:
     * {@code out[outOff + t * outStride + i] = Σ_k w[wOff + i * cols + k] * in[t * cols + k]} (k < cols).
     */
    default void multiply(float[] w, int wOff, int rows, float[] in, int count, int cols, float[] out, int outOff,
                          int outStride) {
        multiply(w, wOff, rows, in, 0, count, cols, out, outOff, outStride);
    }

    /** {@link #multiply} with the token rows starting at {@code in[inOff]} (one expert's tokens of a grouped step). */
    void multiply(float[] w, int wOff, int rows, float[] in, int inOff, int count, int cols, float[] out, int outOff,
                  int outStride);

    /** {@code g[i] = silu(g[i]) * u[i]} for {@code from <= i < to}, silu(x) = x / (1 + e^-x). */
    void swiglu(float[] g, float[] u, int from, int to);

    /**
     * {@code g[i] = gelu(g[i]) * u[i]} for {@code from <= i < to}, GELU's tanh approximation
     * 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (Gemma's GeGLU).
     */
    default void geglu(float[] g, float[] u, int from, int to) {
        for (int i = from; i < to; i++) {
            float x = g[i];
            float inner = 0.7978845608028654f * (x + 0.044715f * x * x * x);
            g[i] = 0.5f * x * (1f + (float) Math.tanh(inner)) * u[i];
        }
    }

    /**
     * The most tokens per panel of {@link #pack}ed activations (a panel buffer sized for this holds any chunk), or 0
     * where this kernel has no packed form. With a packed input, {@link #multiplyPacked} broadcasts weights against
     * runs of tokens, with no horizontal sums.
     */
    int panelTokens();

    /**
     * Transposes columns {@code [kFrom, kTo)} of {@code count} token rows of {@code in} ({@code cols}
     * wide) into panels: {@code panel[(b * cols + k) * P + j] = in[(b * P + j) * cols + k]} with
     * {@code P} the kernel's panel width for {@code count} tokens (at most {@link #panelTokens()}: a kernel may take a
     * narrower panel for a short chunk, then {@link #multiplyPacked} with the same count reads it so), zero past the
     * last token.
     */
    void pack(float[] in, int count, int cols, float[] panel, int kFrom, int kTo);

    /** {@link #multiply} with the input {@link #pack}ed; {@code scratch} holds at least {@link #packedRowTile()} × P floats. */
    void multiplyPacked(float[] w, int wOff, int rows, float[] panel, int count, int cols, float[] out, int outOff,
                        int outStride, float[] scratch);

    /** Rows that {@link #multiplyPacked} handles best in one call. */
    int packedRowTile();

    /** Rows that {@link #multiply} handles best in one call (a multiple of its register tile). */
    int rowTile();

    /** The Vector API kernel when the incubator module is loaded (and not turned off), else the scalar one. */
    static Gemm best() {
        return Holder.BEST;
    }

    final class Holder {
        static final Gemm BEST = choose();

        private Holder() {}

        private static Gemm choose() {
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()
                    || "false".equalsIgnoreCase(System.getProperty("offload4j.vector"))) {
                return ScalarGemm.INSTANCE;
            }
            try {
                // By name, so that a JVM without the module never links against it.
                return (Gemm) Class.forName("io.offload4j.backend.cpu.VectorGemm").getDeclaredField("INSTANCE").get(null);
            } catch (ReflectiveOperationException | LinkageError e) {
                return ScalarGemm.INSTANCE;
            }
        }
    }
}

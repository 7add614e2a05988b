package io.offload4j.backend.cpu;

/**
 * Causal attention of one token's query heads that share a key/value head, over the cached
 * positions. Keys are cached transposed, {@code keys[kOff + d * stride + p]} (dimension-major), so
 * that scores for a run of positions come out of plain multiply-adds without any horizontal sum;
 * values are cached position-major, {@code values[vOff + p * vStride + d]}. Implementations are
 * stateless, thread-safe and allocate nothing.
 */
interface Attention {

    /**
     * For heads {@code g < n}, query {@code q[qOff + g * hd ..]}: softmax over {@code p < positions}
     * of {@code scale · q·k_p}, then {@code out[outOff + g * hd + d] = Σ_p a_p · v_p[d]}.
     *
     * @param att scratch of at least {@code n * stride} floats
     */
    default void attend(float[] q, int qOff, int n, int hd, float[] keys, int kOff, int stride, float[] values,
                        int vOff, int vStride, int positions, float scale, float[] att, float[] out, int outOff) {
        attend(q, qOff, n, hd, keys, kOff, stride, values, vOff, vStride, positions, scale, 0f, att, stride, out,
                outOff);
    }

    /**
     * As above, each scaled score {@code s} soft-capped to {@code softcap · tanh(s / softcap)} before the softmax
     * when {@code softcap > 0} (Gemma 2), head g's scores in {@code att[g * attStride ..]} ({@code attStride} at
     * least {@code positions + padding()}). The three steps below, over one run of positions.
     */
    default void attend(float[] q, int qOff, int n, int hd, float[] keys, int kOff, int stride, float[] values,
                        int vOff, int vStride, int positions, float scale, float softcap, float[] att, int attStride,
                        float[] out, int outOff) {
        scores(q, qOff, n, hd, keys, kOff, stride, positions, scale, att, 0, attStride);
        for (int g = 0; g < n; g++) {
            int a = g * attStride;
            if (softcap > 0) {
                softcap(att, a, a + positions, softcap);
            }
            float inv = softmax(att, a, positions);
            weightedSum(att, a, inv, hd, values, vOff, vStride, positions, out, outOff + g * hd, true, true);
        }
    }

    /**
     * {@code att[attOff + g * attStride + p] = scale · q_g·k_p} for heads {@code g < n} (query
     * {@code q[qOff + g * hd ..]}) and {@code p < positions}, key p's dimension d at {@code keys[kOff + d * stride + p]}.
     * May write up to {@link #padding()} floats past each head's last score, and read as far past each key row.
     */
    void scores(float[] q, int qOff, int n, int hd, float[] keys, int kOff, int stride, int positions, float scale,
                float[] att, int attOff, int attStride);

    /** Replaces {@code att[a .. a + positions)} by {@code exp(s - max)} and returns 1 / their sum. */
    float softmax(float[] att, int a, int positions);

    /**
     * {@code out[o + d]} for {@code d < hd}: {@code Σ_p att[a + p] · inv · values[vOff + p * vStride + d]} over
     * {@code p < positions}, added to what the previous call left there unless {@code first}: a softmax's weighted
     * sum of values, one run of positions per call ({@code last} on the final run). The same floats however the
     * positions are split into runs.
     */
    void weightedSum(float[] att, int a, float inv, int hd, float[] values, int vOff, int vStride, int positions,
                     float[] out, int o, boolean first, boolean last);

    /** x[i] = cap · tanh(x[i] / cap) for i in [from, to): Gemma 2's soft-cap (the final logits use it too). */
    default void softcap(float[] x, int from, int to, float cap) {
        for (int i = from; i < to; i++) {
            x[i] = cap * (float) Math.tanh(x[i] / cap);
        }
    }

    /** How many positions past the last one the cache must have room for (reads may run over them, unused). */
    int padding();

    static Attention best() {
        return Holder.BEST;
    }

    final class Holder {
        static final Attention BEST = choose();

        private Holder() {}

        private static Attention choose() {
            if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()
                    || "false".equalsIgnoreCase(System.getProperty("offload4j.vector"))) {
                return ScalarAttention.INSTANCE;
            }
            try {
                return (Attention) Class.forName("io.offload4j.backend.cpu.VectorAttention").getDeclaredField("INSTANCE")
                        .get(null);
            } catch (ReflectiveOperationException | LinkageError e) {
                return ScalarAttention.INSTANCE;
            }
        }
    }
}

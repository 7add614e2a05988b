package io.offload4j.backend.cpu;

/** {@link Gemm} in plain Java: one weight row against two tokens at a time. */
final class ScalarGemm implements Gemm {
    static final ScalarGemm INSTANCE = new ScalarGemm();

    private ScalarGemm() {}

    @Override
    public void swiglu(float[] g, float[] u, int from, int to) {
        for (int i = from; i < to; i++) {
            float v = g[i];
            g[i] = v / (1f + (float) Math.exp(-v)) * u[i];
        }
    }

    @Override
    public int panelTokens() {
        return 0;
    }

    @Override
    public void pack(float[] in, int count, int cols, float[] panel, int kFrom, int kTo) {
        throw new UnsupportedOperationException("no packed form");
    }

    @Override
    public void multiplyPacked(float[] w, int wOff, int rows, float[] panel, int count, int cols, float[] out,
                               int outOff, int outStride, float[] scratch) {
        throw new UnsupportedOperationException("no packed form");
    }

    @Override
    public int packedRowTile() {
        return 1;
    }

    @Override
    public int rowTile() {
        return 1;
    }

    @Override
    public void multiply(float[] w, int wOff, int rows, float[] in, int inOff, int count, int cols, float[] out, int outOff,
                         int outStride) {
        for (int i = 0; i < rows; i++) {
            int wi = wOff + i * cols;
            int t = 0;
            for (; t + 1 < count; t += 2) {
                int x0 = inOff + t * cols;
                int x1 = x0 + cols;
                float s0 = 0;
                float s1 = 0;
                for (int k = 0; k < cols; k++) {
                    float a = w[wi + k];
                    s0 += a * in[x0 + k];
                    s1 += a * in[x1 + k];
                }
                out[outOff + t * outStride + i] = s0;
                out[outOff + (t + 1) * outStride + i] = s1;
            }
            if (t < count) {
                int x0 = inOff + t * cols;
                float s0 = 0;
                for (int k = 0; k < cols; k++) {
                    s0 += w[wi + k] * in[x0 + k];
                }
                out[outOff + t * outStride + i] = s0;
            }
        }
    }
}

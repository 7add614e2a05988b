package io.offload4j.backend.cpu;

import java.util.Arrays;

/** {@link Attention} in plain Java. */
final class ScalarAttention implements Attention {
    static final ScalarAttention INSTANCE = new ScalarAttention();

    private ScalarAttention() {}

    @Override
    public int padding() {
        return 0;
    }

    @Override
    public void attend(float[] q, int qOff, int n, int hd, float[] keys, int kOff, int stride, float[] values, int vOff,
                       int vStride, int positions, float scale, float softcap, float[] att, float[] out,
                       int outOff) {
        for (int g = 0; g < n; g++) {
            int qi = qOff + g * hd;
            int a = g * stride;
            Arrays.fill(att, a, a + positions, 0f);
            for (int d = 0; d < hd; d++) {
                float qd = q[qi + d];
                int k = kOff + d * stride;
                for (int p = 0; p < positions; p++) {
                    att[a + p] += qd * keys[k + p];
                }
            }
            float max = Float.NEGATIVE_INFINITY;
            for (int p = 0; p < positions; p++) {
                float s = att[a + p] * scale;
                if (softcap > 0) {
                    s = softcap * (float) Math.tanh(s / softcap);
                }
                att[a + p] = s;
                max = Math.max(max, s);
            }
            float sum = 0;
            for (int p = 0; p < positions; p++) {
                float e = (float) Math.exp(att[a + p] - max);
                att[a + p] = e;
                sum += e;
            }
            float inv = 1f / sum;
            int o = outOff + g * hd;
            Arrays.fill(out, o, o + hd, 0f);
            for (int p = 0; p < positions; p++) {
                float w = att[a + p] * inv;
                int v = vOff + p * vStride;
                for (int d = 0; d < hd; d++) {
                    out[o + d] += w * values[v + d];
                }
            }
        }
    }
}

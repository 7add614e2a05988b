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
    public void scores(float[] q, int qOff, int n, int hd, float[] keys, int kOff, int stride, int positions,
                       float scale, float[] att, int attOff, int attStride) {
        for (int g = 0; g < n; g++) {
            int qi = qOff + g * hd;
            int a = attOff + g * attStride;
            Arrays.fill(att, a, a + positions, 0f);
            for (int d = 0; d < hd; d++) {
                float qd = q[qi + d];
                int k = kOff + d * stride;
                for (int p = 0; p < positions; p++) {
                    att[a + p] += qd * keys[k + p];
                }
            }
            for (int p = 0; p < positions; p++) {
                att[a + p] *= scale;
            }
        }
    }

    @Override
    public float softmax(float[] att, int a, int positions) {
        float max = Float.NEGATIVE_INFINITY;
        for (int p = 0; p < positions; p++) {
            max = Math.max(max, att[a + p]);
        }
        float sum = 0;
        for (int p = 0; p < positions; p++) {
            float e = (float) Math.exp(att[a + p] - max);
            att[a + p] = e;
            sum += e;
        }
        return 1f / sum;
    }

    @Override
    public void weightedSum(float[] att, int a, float inv, int hd, float[] values, int vOff, int vStride,
                            int positions, float[] out, int o, boolean first, boolean last) {
        if (first) {
            Arrays.fill(out, o, o + hd, 0f);
        }
        for (int p = 0; p < positions; p++) {
            float w = att[a + p] * inv;
            int v = vOff + p * vStride;
            for (int d = 0; d < hd; d++) {
                out[o + d] += w * values[v + d];
            }
        }
    }
}

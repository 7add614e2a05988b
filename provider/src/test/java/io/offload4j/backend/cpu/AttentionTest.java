package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class AttentionTest {

    @Test
    void kernelsMatchADoublePrecisionReference() {
        SplittableRandom random = new SplittableRandom(11);
        for (Attention kernel : new Attention[] {ScalarAttention.INSTANCE, Attention.best()}) {
            for (int hd : new int[] {8, 48, 64, 128, 36}) {
                for (int n : new int[] {1, 2, 4, 5, 8}) {
                    for (int positions : new int[] {1, 7, 16, 33, 100}) {
                        check(kernel, random, hd, n, positions, 0f);
                        check(kernel, random, hd, n, positions, 0.7f); // Gemma 2's cap, small enough to bite
                    }
                }
            }
        }
    }

    private static void check(Attention kernel, SplittableRandom random, int hd, int n, int positions, float cap) {
        int kvHeads = 2;
        int kvHead = 1;
        int capacity = positions + 3;
        int stride = capacity + kernel.padding();
        int vDim = kvHeads * hd;
        float[] keys = new float[kvHeads * hd * stride];
        float[] values = new float[capacity * vDim];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = (float) random.nextDouble(-1, 1);
        }
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) random.nextDouble(-1, 1);
        }
        int qOff = 3;
        float[] q = new float[qOff + n * hd];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) random.nextDouble(-2, 2);
        }
        float scale = (float) (1 / Math.sqrt(hd));
        float[] att = new float[n * stride];
        int outOff = 5;
        float[] out = new float[outOff + n * hd];
        int kOff = kvHead * hd * stride;
        int vOff = kvHead * hd;
        if (cap > 0) {
            kernel.attend(q, qOff, n, hd, keys, kOff, stride, values, vOff, vDim, positions, scale, cap, att, out,
                    outOff);
        } else {
            kernel.attend(q, qOff, n, hd, keys, kOff, stride, values, vOff, vDim, positions, scale, att, out, outOff);
        }
        for (int g = 0; g < n; g++) {
            double[] s = new double[positions];
            double max = Double.NEGATIVE_INFINITY;
            for (int p = 0; p < positions; p++) {
                for (int d = 0; d < hd; d++) {
                    s[p] += (double) q[qOff + g * hd + d] * keys[kOff + d * stride + p];
                }
                s[p] *= scale;
                if (cap > 0) {
                    s[p] = cap * Math.tanh(s[p] / cap);
                }
                max = Math.max(max, s[p]);
            }
            double sum = 0;
            for (int p = 0; p < positions; p++) {
                s[p] = Math.exp(s[p] - max);
                sum += s[p];
            }
            for (int d = 0; d < hd; d++) {
                double ref = 0;
                for (int p = 0; p < positions; p++) {
                    ref += s[p] / sum * values[vOff + p * vDim + d];
                }
                assertEquals(ref, out[outOff + g * hd + d], 1e-5,
                        kernel.getClass().getSimpleName() + " cap=" + cap + " hd=" + hd + " n=" + n + " positions=" + positions);
            }
        }
    }

    @Test
    void softcapMatchesTanh() {
        for (Attention kernel : new Attention[] {ScalarAttention.INSTANCE, Attention.best()}) {
            float[] x = new float[53];
            for (int i = 0; i < x.length; i++) {
                x[i] = (i - 26) * 0.37f;
            }
            float[] want = x.clone();
            kernel.softcap(x, 2, 51, 3f);
            for (int i = 0; i < x.length; i++) {
                double w = i < 2 || i >= 51 ? want[i] : 3 * Math.tanh(want[i] / 3.0);
                assertEquals(w, x[i], 1e-6, kernel.getClass().getSimpleName() + " element " + i);
            }
        }
    }
}

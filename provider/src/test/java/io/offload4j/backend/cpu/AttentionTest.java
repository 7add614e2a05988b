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
            kernel.attend(q, qOff, n, hd, keys, kOff, stride, values, vOff, vDim, positions, scale, cap, att, stride,
                    out, outOff);
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

    /**
     * Attention over positions split into runs (as over a KV cache's pages: scores run by run, one softmax, the
     * weighted sum run by run) gives exactly the floats of one run.
     */
    @Test
    void runsGiveTheFloatsOfOneRun() {
        SplittableRandom random = new SplittableRandom(5);
        for (Attention kernel : new Attention[] {ScalarAttention.INSTANCE, Attention.best()}) {
            for (int hd : new int[] {64, 36, 128}) {
                for (int n : new int[] {1, 4, 6}) {
                    int positions = 1 + random.nextInt(300);
                    int stride = positions + kernel.padding();
                    float[] keys = new float[hd * stride];
                    float[] values = new float[positions * hd];
                    float[] q = new float[n * hd];
                    fill(random, keys);
                    fill(random, values);
                    fill(random, q);
                    int attStride = positions + kernel.padding();
                    float[] whole = new float[n * hd];
                    kernel.attend(q, 0, n, hd, keys, 0, stride, values, 0, hd, positions, 0.125f, 0f,
                            new float[n * attStride], attStride, whole, 0);
                    // the same positions as runs of random lengths, each run's keys in a page of its own
                    int[] cuts = new int[positions + 1];
                    int runs = 0;
                    for (int p = 0; p < positions; p += 1 + random.nextInt(70)) {
                        cuts[runs++] = p;
                    }
                    cuts[runs] = positions;
                    float[][] pageKeys = new float[runs][];
                    float[] att = new float[n * attStride];
                    for (int r = 0; r < runs; r++) {
                        int len = cuts[r + 1] - cuts[r];
                        pageKeys[r] = new float[hd * len + kernel.padding()];
                        for (int d = 0; d < hd; d++) {
                            System.arraycopy(keys, d * stride + cuts[r], pageKeys[r], d * len, len);
                        }
                        kernel.scores(q, 0, n, hd, pageKeys[r], 0, len, len, 0.125f, att, cuts[r], attStride);
                    }
                    float[] split = new float[n * hd];
                    for (int g = 0; g < n; g++) {
                        float inv = kernel.softmax(att, g * attStride, positions);
                        for (int r = 0; r < runs; r++) {
                            kernel.weightedSum(att, g * attStride + cuts[r], inv, hd, values, cuts[r] * hd, hd,
                                    cuts[r + 1] - cuts[r], split, g * hd, r == 0, r == runs - 1);
                        }
                    }
                    org.junit.jupiter.api.Assertions.assertArrayEquals(whole, split,
                            kernel.getClass().getSimpleName() + " hd=" + hd + " n=" + n + " runs=" + runs);
                }
            }
        }
    }

    private static void fill(SplittableRandom random, float[] a) {
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) random.nextDouble(-1, 1);
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

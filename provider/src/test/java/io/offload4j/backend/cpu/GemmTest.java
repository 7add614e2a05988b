package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class GemmTest {

    @Test
    void scalarAndBestKernelsMatchADoublePrecisionReference() {
        SplittableRandom random = new SplittableRandom(7);
        int[][] shapes = {{1, 1, 1}, {4, 3, 8}, {5, 7, 33}, {8, 6, 64}, {7, 1, 1024}, {12, 64, 256}, {3, 2, 17}, {16, 11, 520}};
        for (Gemm g : new Gemm[] {ScalarGemm.INSTANCE, Gemm.best()}) {
            for (int[] s : shapes) {
                int rows = s[0];
                int count = s[1];
                int cols = s[2];
                int wOff = 5;
                float[] w = new float[wOff + rows * cols];
                float[] in = new float[count * cols];
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) random.nextDouble(-1, 1);
                }
                for (int i = 0; i < in.length; i++) {
                    in[i] = (float) random.nextDouble(-1, 1);
                }
                int stride = rows + 3;
                int outOff = 2;
                float[] out = new float[outOff + count * stride];
                g.multiply(w, wOff, rows, in, count, cols, out, outOff, stride);
                for (int t = 0; t < count; t++) {
                    for (int r = 0; r < rows; r++) {
                        double ref = 0;
                        for (int k = 0; k < cols; k++) {
                            ref += (double) w[wOff + r * cols + k] * in[t * cols + k];
                        }
                        assertEquals(ref, out[outOff + t * stride + r], 1e-4 * Math.sqrt(cols),
                                g.getClass().getSimpleName() + " " + rows + "x" + count + "x" + cols + " t=" + t + " r=" + r);
                    }
                }
            }
        }
    }

    @Test
    void swigluMatchesTheFormula() {
        SplittableRandom random = new SplittableRandom(5);
        for (Gemm g : new Gemm[] {ScalarGemm.INSTANCE, Gemm.best()}) {
            float[] gate = new float[103];
            float[] up = new float[103];
            for (int i = 0; i < gate.length; i++) {
                gate[i] = (float) random.nextDouble(-30, 30);
                up[i] = (float) random.nextDouble(-2, 2);
            }
            float[] out = gate.clone();
            g.swiglu(out, up, 3, 100);
            for (int i = 0; i < gate.length; i++) {
                double ref = i < 3 || i >= 100 ? gate[i] : gate[i] / (1 + Math.exp(-gate[i])) * up[i];
                assertEquals(ref, out[i], 1e-6 * Math.max(1, Math.abs(ref)), g.getClass().getSimpleName() + " " + i);
            }
        }
    }

    @Test
    void gegluMatchesTheFormula() {
        SplittableRandom random = new SplittableRandom(6);
        for (Gemm g : new Gemm[] {ScalarGemm.INSTANCE, Gemm.best()}) {
            float[] gate = new float[103];
            float[] up = new float[103];
            for (int i = 0; i < gate.length; i++) {
                gate[i] = (float) random.nextDouble(-8, 8);
                up[i] = (float) random.nextDouble(-2, 2);
            }
            float[] out = gate.clone();
            g.geglu(out, up, 3, 100);
            for (int i = 0; i < gate.length; i++) {
                double x = gate[i];
                double ref = i < 3 || i >= 100 ? x
                        : 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))) * up[i];
                assertEquals(ref, out[i], 1e-6 * Math.max(1, Math.abs(ref)), g.getClass().getSimpleName() + " " + i);
            }
        }
    }

    @Test
    void packedKernelMatchesADoublePrecisionReference() {
        Gemm g = Gemm.best();
        int pt = g.panelTokens();
        if (pt == 0) {
            return;
        }
        SplittableRandom random = new SplittableRandom(9);
        for (int rows : new int[] {1, 5, 6, 7, 13}) {
            for (int count : new int[] {1, 3, 8, 9, 16, 17, 33}) {
                for (int cols : new int[] {8, 64, 100}) {
                    float[] w = new float[rows * cols];
                    float[] in = new float[count * cols];
                    for (int i = 0; i < w.length; i++) {
                        w[i] = (float) random.nextDouble(-1, 1);
                    }
                    for (int i = 0; i < in.length; i++) {
                        in[i] = (float) random.nextDouble(-1, 1);
                    }
                    float[] panel = new float[(count + pt - 1) / pt * pt * cols];
                    java.util.Arrays.fill(panel, Float.NaN);
                    g.pack(in, count, cols, panel, 0, cols / 2);
                    g.pack(in, count, cols, panel, cols / 2, cols);
                    int stride = rows + 2;
                    float[] out = new float[1 + count * stride];
                    g.multiplyPacked(w, 0, rows, panel, count, cols, out, 1, stride, new float[g.packedRowTile() * pt]);
                    for (int t = 0; t < count; t++) {
                        for (int r = 0; r < rows; r++) {
                            double ref = 0;
                            for (int k = 0; k < cols; k++) {
                                ref += (double) w[r * cols + k] * in[t * cols + k];
                            }
                            assertEquals(ref, out[1 + t * stride + r], 1e-4 * Math.sqrt(cols),
                                    rows + "x" + count + "x" + cols + " t=" + t + " r=" + r);
                        }
                    }
                }
            }
        }
    }
}

package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The selected and the scalar {@link FloatOps} against double-precision results, at every tail length. */
class FloatOpsTest {

    @Test
    void dotAgreesWithDouble() {
        Random r = new Random(1);
        for (FloatOps ops : new FloatOps[] {CpuKernels.floatOps(), CpuKernels.scalarFloatOps()}) {
            for (int n = 0; n <= 300; n += (n < 70 ? 1 : 37)) {
                float[] a = QuantTestData.gaussian(r, n + 3);
                float[] b = QuantTestData.gaussian(r, n + 5);
                float[] aw = java.util.Arrays.copyOfRange(a, 3, n + 3);
                double want = QuantTestData.dot(aw, b, 5);
                double scale = QuantTestData.absDot(aw, b, 5);
                float got = ops.dot(a, 3, b, 5, n);
                assertTrue(Math.abs(got - want) <= 1e-6 * scale + 1e-30,
                        ops.getClass().getSimpleName() + " n=" + n + ": " + got + " vs " + want);
            }
        }
    }

    @Test
    void axpyAgreesWithDouble() {
        Random r = new Random(2);
        for (FloatOps ops : new FloatOps[] {CpuKernels.floatOps(), CpuKernels.scalarFloatOps()}) {
            for (int n = 0; n <= 300; n += (n < 70 ? 1 : 37)) {
                float alpha = (float) r.nextGaussian();
                float[] x = QuantTestData.gaussian(r, n + 2);
                float[] y = QuantTestData.gaussian(r, n + 4);
                float[] y0 = y.clone();
                ops.axpy(alpha, x, 2, y, 1, n);
                assertEquals(y0[0], y[0], "axpy wrote before yOff");
                for (int k = n + 1; k < y.length; k++) {
                    assertEquals(y0[k], y[k], "axpy wrote past n");
                }
                for (int i = 0; i < n; i++) {
                    double want = y0[1 + i] + (double) alpha * x[2 + i];
                    // One or two float roundings (fma or mul+add) of terms of this size.
                    double tol = 2 * Math.ulp(Math.abs(y0[1 + i]) + Math.abs(alpha * x[2 + i]));
                    assertTrue(Math.abs(y[1 + i] - want) <= tol, ops.getClass().getSimpleName() + " n=" + n + " i=" + i);
                }
            }
        }
    }
}

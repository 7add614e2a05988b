package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * quantize → dequantize error per format, on 16384 standard-normal values: the RMS error relative to
 * the data's RMS must stay under the bound below. Measured on this data (seed 12345), the quantizers
 * give (relative RMS error):
 * F32 0, F16 2.07e-4, BF16 1.66e-3, Q8_0 5.36e-3, Q4_0 0.0859, Q4_1 0.0782, Q4_K 0.0783,
 * Q5_K 0.0381, Q6_K 0.0194, Q5_0 0.0426, Q5_1 0.0377, Q2_K 0.329, Q3_K 0.155, IQ4_NL 0.0799, IQ4_XS 0.0799
 * (printed by the test). The K-quant and IQ4 encoders are the simple min/max ones of {@link KQuantizer} and
 * {@link LowBitQuantizer}, meant for synthetic models; llama.cpp's searching quantizer does somewhat better
 * (Q2_K's four levels per sub-block of 16 Gaussian values leave a step of about 1.2σ, hence its 0.33).
 */
class QuantizeRoundTripTest {
    static final GgmlType[] FORMATS = QuantTestData.FORMATS;

    /** Upper bounds for the relative RMS error (measured value plus margin). */
    private static final Map<GgmlType, Double> BOUND = Map.ofEntries(
            Map.entry(GgmlType.F32, 0.0),
            Map.entry(GgmlType.F16, 2.5e-4),
            Map.entry(GgmlType.BF16, 2e-3),
            Map.entry(GgmlType.Q8_0, 6e-3),
            Map.entry(GgmlType.Q4_0, 0.10),
            Map.entry(GgmlType.Q4_1, 0.09),
            Map.entry(GgmlType.Q4_K, 0.09),
            Map.entry(GgmlType.Q5_K, 0.045),
            Map.entry(GgmlType.Q6_K, 0.023),
            Map.entry(GgmlType.Q5_0, 0.05),
            Map.entry(GgmlType.Q5_1, 0.045),
            Map.entry(GgmlType.Q2_K, 0.36),
            Map.entry(GgmlType.Q3_K, 0.18),
            Map.entry(GgmlType.IQ4_NL, 0.09),
            Map.entry(GgmlType.IQ4_XS, 0.09));

    @ParameterizedTest
    @FieldSource("FORMATS")
    void relativeRmsErrorIsBounded(GgmlType type) {
        float[] x = QuantTestData.gaussian(new Random(12345), 16384);
        RowKernel k = CpuKernels.of(type);
        MemorySegment q = QuantTestData.quantize(k, x);
        float[] y = new float[x.length];
        k.dequantize(q, 0, y, 0, x.length);
        double err = 0;
        double sig = 0;
        for (int i = 0; i < x.length; i++) {
            err += (y[i] - (double) x[i]) * (y[i] - (double) x[i]);
            sig += (double) x[i] * x[i];
        }
        double rel = Math.sqrt(err / sig);
        System.out.printf("round trip %-5s relative RMS error %.3g%n", type, rel);
        assertTrue(rel <= BOUND.get(type), type + ": relative RMS error " + rel + " > " + BOUND.get(type));
    }

    /** Per value, Q8_0 is off by at most half a step d plus the half rounding of d (127·|d - half(d)|). */
    @Test
    void q8_0ErrorPerValue() {
        float[] x = QuantTestData.gaussian(new Random(7), 4096);
        perBlockBound(GgmlType.Q8_0, x, 127, 0.5 + 127 * 0x1p-11);
    }

    /** Q4_0: half a step d = max/8 plus the half rounding of d, and the clamped top level (one more step at most). */
    @Test
    void q4_0ErrorPerValue() {
        float[] x = QuantTestData.gaussian(new Random(8), 4096);
        perBlockBound(GgmlType.Q4_0, x, 8, 0.5 + 8 * 0x1p-11 + 0.5);
    }

    /** Each value within {@code factor} steps of {@code max|x| / levels} of its block. */
    private static void perBlockBound(GgmlType type, float[] x, int levels, double factor) {
        RowKernel k = CpuKernels.of(type);
        float[] y = new float[x.length];
        k.dequantize(QuantTestData.quantize(k, x), 0, y, 0, x.length);
        for (int b = 0; b < x.length / 32; b++) {
            float amax = 0;
            for (int i = 0; i < 32; i++) {
                amax = Math.max(amax, Math.abs(x[32 * b + i]));
            }
            double bound = factor * amax / levels;
            for (int i = 32 * b; i < 32 * b + 32; i++) {
                assertTrue(Math.abs(y[i] - x[i]) <= bound, type + " value " + i + ": " + x[i] + " -> " + y[i]);
            }
        }
    }

    /** Blocks of zeros, constants and one-sided data must not produce NaN (zero scales) and must round-trip closely. */
    @ParameterizedTest
    @FieldSource("FORMATS")
    void degenerateBlocks(GgmlType type) {
        int n = 512;
        float[][] cases = {new float[n], filled(n, 0.75f), filled(n, -3f), ramp(n, 0, 1), ramp(n, -2, -1)};
        RowKernel k = CpuKernels.of(type);
        for (float[] x : cases) {
            float[] y = new float[n];
            k.dequantize(QuantTestData.quantize(k, x), 0, y, 0, n);
            float amax = 0;
            for (float v : x) {
                amax = Math.max(amax, Math.abs(v));
            }
            for (int i = 0; i < n; i++) {
                assertTrue(Math.abs(y[i] - x[i]) <= 0.15 * amax, type + " value " + i + ": " + x[i] + " -> " + y[i]);
            }
            if (amax == 0) {
                for (float v : y) {
                    assertEquals(0f, Math.abs(v), type + " zeros");
                }
            }
        }
    }

    private static float[] filled(int n, float v) {
        float[] x = new float[n];
        java.util.Arrays.fill(x, v);
        return x;
    }

    private static float[] ramp(int n, float from, float to) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = from + (to - from) * i / (n - 1);
        }
        return x;
    }
}

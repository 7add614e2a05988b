package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * {@code dotRows} (several activation rows against one stored row, fused where the kernel has a fused form) gives,
 * for every row count 1..7 and every format, what {@code dot} gives for each row alone — the same per-row summation
 * order, so equal up to the order of the final lane reduction, which the Vector API leaves to the JIT (interpreted
 * and compiled code may differ in the last bit): within 1e-6 of Σ|w·x| — and writes nothing outside its outputs.
 */
class DotRowsTest {
    static final GgmlType[] FORMATS = QuantTestData.FORMATS;

    @ParameterizedTest
    @FieldSource("FORMATS")
    void equalsDotPerRow(GgmlType type) {
        RowKernel kernel = CpuKernels.of(type);
        Random r = new Random(31L * type.ordinal() + 5);
        int bs = type.blockSize();
        int n = bs == 1 ? 4096 : Math.max(1, 1024 / bs) * bs;
        byte[] bytes = QuantTestData.quantize(CpuKernels.scalar(type), QuantTestData.gaussian(r, n))
                .toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        int off = 3;
        MemorySegment seg = MemorySegment.ofArray(new byte[bytes.length + 16]);
        QuantTestData.placeAt(bytes, off, seg);
        float[] w = new float[n];
        kernel.dequantize(seg, off, w, 0, n);
        for (int rows = 1; rows <= 7; rows++) {
            int xStride = n + 5;
            int xOff = 2;
            float[] x = QuantTestData.gaussian(r, xOff + rows * xStride);
            int outStride = 3;
            float[] out = new float[1 + rows * outStride + 2];
            java.util.Arrays.fill(out, Float.NaN);
            kernel.dotRows(seg, off, x, xOff, xStride, rows, n, out, 1, outStride);
            for (int t = 0; t < rows; t++) {
                float want = kernel.dot(seg, off, x, xOff + t * xStride, n);
                double scale = 0;
                for (int i = 0; i < n; i++) {
                    scale += Math.abs((double) w[i] * x[xOff + t * xStride + i]);
                }
                assertEquals(want, out[1 + t * outStride], 1e-6 * scale,
                        type + ": row " + t + " of " + rows + ": " + out[1 + t * outStride] + " vs dot " + want);
                for (int g = 1; g < outStride && t < rows - 1; g++) {
                    assertEquals(Float.NaN, out[1 + t * outStride + g], type + " wrote between outputs");
                }
            }
            assertEquals(Float.NaN, out[0], type + " wrote before its first output");
        }
    }
}

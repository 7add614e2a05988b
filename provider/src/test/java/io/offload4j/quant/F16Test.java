package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

/**
 * F16 has no gguf-py reference file (its dequantization is the IEEE conversion), so: every one of the
 * 65536 half bit patterns through both kernels against a decoder written here from the binary16
 * definition, and the F16 file of the reference set read row by row, checked against the same decoder
 * and against ggml's Q8_0 dequantization of the same tensor (same weights, quantized by llama.cpp from
 * the same F32 source), which proves the element order on real data.
 */
class F16Test {

    /** binary16: sign, 5-bit exponent (bias 15), 10-bit mantissa; exponent 0 is subnormal, 31 Inf/NaN. */
    static float halfToFloat(int h) {
        int e = (h >> 10) & 31;
        int m = h & 1023;
        float v;
        if (e == 0) {
            v = Math.scalb((float) m, -24);
        } else if (e == 31) {
            v = m == 0 ? Float.POSITIVE_INFINITY : Float.NaN;
        } else {
            v = Math.scalb((float) (1024 + m), e - 25);
        }
        return (h & 0x8000) != 0 ? -v : v;
    }

    @Test
    void everyHalfBitPattern() {
        MemorySegment all = MemorySegment.ofArray(new byte[2 * 65536 + 1]);
        for (int h = 0; h < 65536; h++) {
            all.set(QuantTestData.LE_SHORT, 1 + 2L * h, (short) h);
        }
        for (RowKernel k : new RowKernel[] {CpuKernels.scalar(GgmlType.F16), CpuKernels.of(GgmlType.F16)}) {
            float[] got = new float[65536];
            k.dequantize(all, 1, got, 0, 65536);
            for (int h = 0; h < 65536; h++) {
                float want = halfToFloat(h);
                if (Float.isNaN(want)) {
                    assertTrue(Float.isNaN(got[h]), k.getClass().getSimpleName() + String.format(" 0x%04x", h));
                } else {
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got[h]),
                            k.getClass().getSimpleName() + String.format(" 0x%04x: %s vs %s", h, want, got[h]));
                }
            }
        }
    }

    @Test
    void referenceModelTensor() throws IOException {
        String tensor = "blk.0.attn_k.weight";
        try (GgufFile f16 = GgufFile.open(SharedData.require("models/kquant/kquant-F16.gguf"))) {
            float[] q8 = ReferenceDequantizeTest.readFloats(
                    SharedData.require("models/kquant/dequantized/kquant-Q8_0." + tensor + ".f32"));
            GgufTensorInfo info = f16.tensors().get(tensor);
            assertEquals(GgmlType.F16, info.type());
            int cols = Math.toIntExact(info.dim(0));
            int rows = Math.toIntExact(info.dim(1));
            assertEquals((long) rows * cols, q8.length);
            MemorySegment data = f16.tensorData(info);
            for (RowKernel k : new RowKernel[] {CpuKernels.scalar(GgmlType.F16), CpuKernels.of(GgmlType.F16)}) {
                float[] row = new float[cols];
                for (int r = 0; r < rows; r++) {
                    k.dequantize(data, 2L * r * cols, row, 0, cols);
                    for (int i = 0; i < cols; i++) {
                        float want = halfToFloat(data.get(QuantTestData.LE_SHORT, 2L * (r * cols + i)) & 0xffff);
                        assertEquals(want, row[i]);
                    }
                    // Q8_0 of the same weights: within 0.6 steps of its block (half a step, plus the
                    // half rounding of its scale), plus the F16 rounding of the weight.
                    for (int b = 0; b < cols / 32; b++) {
                        float amax = 0;
                        for (int i = 32 * b; i < 32 * b + 32; i++) {
                            amax = Math.max(amax, Math.abs(q8[r * cols + i]));
                        }
                        for (int i = 32 * b; i < 32 * b + 32; i++) {
                            float diff = Math.abs(row[i] - q8[r * cols + i]);
                            assertTrue(diff <= 0.6f * amax / 127 + 1e-3f * Math.abs(row[i]),
                                    "row " + r + " col " + i + ": F16 " + row[i] + " vs Q8_0 " + q8[r * cols + i]);
                        }
                    }
                }
            }
        }
    }

    /**
     * The dot through caller scratch (decode a chunk, then multiply-add) against a double-precision sum of the exact
     * products, for lengths around the chunk size and the vector width, at unaligned offsets, with scratch that
     * holds garbage from before.
     */
    @Test
    void scratchDotMatchesExactSum() {
        java.util.Random r = new java.util.Random(7);
        float[] scratch = new float[RowKernel.DOT_SCRATCH];
        java.util.Arrays.fill(scratch, Float.NaN);
        for (int n : new int[] {32, 64, 96, 511, 512, 513, 1024, 1056, 1536, 2048, 3072, 4128, 8192}) {
            MemorySegment row = MemorySegment.ofArray(new byte[2 * n + 6]);
            float[] x = new float[n + 3];
            double exact = 0;
            double magnitude = 0;
            for (int i = 0; i < n; i++) {
                short h = Float.floatToFloat16((float) r.nextGaussian());
                row.set(QuantTestData.LE_SHORT, 6 + 2L * i, h);
                x[3 + i] = (float) r.nextGaussian();
                exact += (double) Float.float16ToFloat(h) * x[3 + i];
                magnitude += Math.abs((double) Float.float16ToFloat(h) * x[3 + i]);
            }
            for (RowKernel k : new RowKernel[] {CpuKernels.scalar(GgmlType.F16), CpuKernels.of(GgmlType.F16)}) {
                float got = k.dot(row, 6, x, 3, n, scratch);
                assertEquals(exact, got, 1e-6 * magnitude + 1e-6, k.getClass().getSimpleName() + " n=" + n);
                assertEquals(k.dot(row, 6, x, 3, n), got, 2e-6 * magnitude + 1e-6,
                        k.getClass().getSimpleName() + " n=" + n + " vs its scratch-free dot");
            }
        }
    }
}

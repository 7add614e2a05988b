package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Dequantization against ggml's own: {@code shared/models/kquant/} holds GGUF files written by
 * llama.cpp's {@code llama-quantize} and, for one tensor per format and file, the float32 output of
 * gguf-py's reference dequantizer (see its README and {@code dequantized/kquant-ref.json}, from which
 * the table below is taken). Both the scalar and the selected (Vector API) kernels must reproduce it
 * bit for bit, or at worst within 1 ulp, and their dot products must agree with a double-precision dot
 * of the reference values.
 */
class ReferenceDequantizeTest {
    private static final String DIR = "models/kquant/";

    static Stream<Arguments> references() {
        return Stream.of(
                Arguments.of("kquant-Q8_0.gguf", "blk.0.attn_k.weight", GgmlType.Q8_0),
                Arguments.of("kquant-Q4_0.gguf", "blk.0.attn_k.weight", GgmlType.Q4_0),
                Arguments.of("kquant-Q4_0.gguf", "output.weight", GgmlType.Q6_K),
                Arguments.of("kquant-Q4_K_M.gguf", "blk.0.attn_k.weight", GgmlType.Q4_K),
                Arguments.of("kquant-Q4_K_M.gguf", "blk.1.attn_v.weight", GgmlType.Q6_K),
                Arguments.of("kquant-Q5_K_M.gguf", "blk.0.attn_k.weight", GgmlType.Q5_K),
                Arguments.of("kquant-Q5_K_M.gguf", "blk.1.attn_v.weight", GgmlType.Q6_K),
                Arguments.of("kquant-Q6_K.gguf", "blk.0.attn_k.weight", GgmlType.Q6_K));
    }

    @ParameterizedTest(name = "{0} {1} ({2})")
    @MethodSource("references")
    void dequantizeMatchesGgmlReference(String file, String tensor, GgmlType type) throws IOException {
        Path gguf = SharedData.require(DIR + file);
        Path ref = SharedData.require(DIR + "dequantized/" + file.replace(".gguf", "") + "." + tensor + ".f32");
        try (GgufFile f = GgufFile.open(gguf)) {
            GgufTensorInfo info = f.tensors().get(tensor);
            assertEquals(type, info.type(), "format of " + tensor + " in " + file);
            int cols = Math.toIntExact(info.dim(0));
            int rows = Math.toIntExact(info.dim(1));
            float[] expected = readFloats(ref);
            assertEquals((long) rows * cols, expected.length, "reference size");
            MemorySegment data = f.tensorData(info);
            long rowBytes = type.bytesFor(cols);

            for (RowKernel k : new RowKernel[] {CpuKernels.scalar(type), CpuKernels.of(type)}) {
                float[] row = new float[cols];
                int identical = 0;
                int maxUlps = 0;
                for (int r = 0; r < rows; r++) {
                    k.dequantize(data, r * rowBytes, row, 0, cols);
                    for (int i = 0; i < cols; i++) {
                        float e = expected[r * cols + i];
                        if (Float.floatToRawIntBits(e) == Float.floatToRawIntBits(row[i])) {
                            identical++;
                        }
                        int u = QuantTestData.ulps(e, row[i]);
                        if (u > maxUlps) {
                            maxUlps = u;
                            assertTrue(u <= 1, k.getClass().getSimpleName() + " row " + r + " col " + i
                                    + ": expected " + e + ", got " + row[i] + " (" + u + " ulps)");
                        }
                    }
                }
                System.out.printf("%s %s %s via %s: %d of %d values bit-identical to ggml, max %d ulp%n",
                        file, tensor, type, k.getClass().getSimpleName(), identical, expected.length, maxUlps);

                // The whole tensor is also one long row (rows are stored back to back).
                float[] all = new float[expected.length];
                k.dequantize(data, 0, all, 0, all.length);
                for (int i = 0; i < all.length; i++) {
                    assertTrue(QuantTestData.ulps(expected[i], all[i]) <= 1, "whole-tensor value " + i);
                }

                // The fused dot of each row against a random x agrees with the reference values.
                Random rnd = new Random(42);
                float[] x = QuantTestData.gaussian(rnd, cols + 5);
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(expected, r * cols, row, 0, cols);
                    double want = QuantTestData.dot(row, x, 5);
                    double scale = QuantTestData.absDot(row, x, 5);
                    float got = k.dot(data, r * rowBytes, x, 5, cols);
                    assertTrue(Math.abs(got - want) <= 1e-5 * scale,
                            k.getClass().getSimpleName() + " dot of row " + r + ": " + got + " vs " + want);
                }
            }
        }
    }

    /** F32 tensors (the norms) of the reference files come out exactly as stored, through both kernels. */
    @org.junit.jupiter.api.Test
    void f32TensorsAreReadExactly() throws IOException {
        try (GgufFile f = GgufFile.open(SharedData.require(DIR + "kquant-F16.gguf"))) {
            int seen = 0;
            for (GgufTensorInfo info : f.tensors().values()) {
                if (info.type() != GgmlType.F32) {
                    continue;
                }
                int n = Math.toIntExact(info.elementCount());
                ByteBuffer bb = f.tensorData(info).asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                float[] expected = new float[n];
                bb.asFloatBuffer().get(expected);
                for (RowKernel k : new RowKernel[] {CpuKernels.scalar(GgmlType.F32), CpuKernels.of(GgmlType.F32)}) {
                    float[] got = new float[n];
                    k.dequantize(f.tensorData(info), 0, got, 0, n);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(expected, got, info.name());
                }
                seen++;
            }
            assertTrue(seen > 0, "no F32 tensor in the F16 reference file");
        }
    }

    static float[] readFloats(Path p) throws IOException {
        ByteBuffer bb = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        float[] out = new float[bb.remaining() / 4];
        bb.asFloatBuffer().get(out);
        return out;
    }
}

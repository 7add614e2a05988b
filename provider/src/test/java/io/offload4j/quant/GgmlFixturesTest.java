package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import io.offload4j.testing.QuantFixtures;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Q5_0, Q5_1, Q2_K, Q3_K, IQ4_NL and IQ4_XS against ggml's own dequantization: the committed fixtures
 * ({@code src/test/resources/quant/}, {@link QuantFixtures}) hold rows quantized by llama.cpp's
 * {@code llama-quantize} and random blocks, with gguf-py's reference dequantization of each. Both the scalar
 * and the selected (Vector API) kernel must reproduce every value bit for bit: every format's reference is
 * one or two float32 roundings in ggml's order ({@code (d·sc)·q}, {@code d·q + m}, {@code (d·sc)·q - dmin·m}),
 * which the kernels repeat without fused multiply-adds. The other vector widths are checked against the same
 * fixtures by {@link VectorWidthTest}.
 */
class GgmlFixturesTest {

    static List<QuantFixtures.Tensor> fixtures() {
        return QuantFixtures.tensors();
    }

    @Test
    void everyNewFormatHasRealAndRandomFixtures() {
        Set<GgmlType> real = EnumSet.noneOf(GgmlType.class);
        Set<GgmlType> random = EnumSet.noneOf(GgmlType.class);
        for (QuantFixtures.Tensor t : fixtures()) {
            (t.id().endsWith("-random") ? random : real).add(t.format());
        }
        Set<GgmlType> formats = EnumSet.of(GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.IQ4_NL,
                GgmlType.IQ4_XS);
        assertEquals(formats, real, "formats with llama-quantize fixtures");
        assertEquals(formats, random, "formats with random-block fixtures");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void dequantizeIsBitExact(QuantFixtures.Tensor t) {
        assertEquals((long) t.rows() * t.rowBytes(), t.quantized().length, "fixture bytes");
        assertEquals(t.format().bytesFor(t.cols()), t.rowBytes(), "row bytes");
        try (Arena arena = Arena.ofConfined()) {
            // At an odd offset of native memory: blocks are packed, nothing may assume alignment.
            MemorySegment seg = arena.allocate(t.quantized().length + 3L);
            MemorySegment.copy(MemorySegment.ofArray(t.quantized()), 0, seg, 3, t.quantized().length);
            for (RowKernel k : new RowKernel[] {CpuKernels.scalar(t.format()), CpuKernels.of(t.format())}) {
                float[] row = new float[t.cols()];
                for (int r = 0; r < t.rows(); r++) {
                    k.dequantize(seg, 3 + (long) r * t.rowBytes(), row, 0, t.cols());
                    for (int i = 0; i < t.cols(); i++) {
                        float want = t.reference()[r * t.cols() + i];
                        if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(row[i])) {
                            throw new AssertionError(k.getClass().getSimpleName() + " " + t + " row " + r + " col " + i
                                    + ": ggml " + want + ", got " + row[i] + " (" + QuantTestData.ulps(want, row[i])
                                    + " ulps)");
                        }
                    }
                }
                // The rows are stored back to back: the whole slab is one long row.
                float[] all = new float[t.rows() * t.cols()];
                k.dequantize(seg, 3, all, 0, all.length);
                for (int i = 0; i < all.length; i++) {
                    assertEquals(Float.floatToRawIntBits(t.reference()[i]), Float.floatToRawIntBits(all[i]),
                            k.getClass().getSimpleName() + " " + t + " whole-slab value " + i);
                }
            }
        }
    }

    /**
     * The fused dot products agree with a double-precision dot of ggml's values within 1e-5 of Σ|w·x|
     * (float accumulation; a wrong bit, scale or level is far outside it).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void dotAgreesWithTheReference(QuantFixtures.Tensor t) {
        MemorySegment seg = MemorySegment.ofArray(t.quantized());
        Random rnd = new Random(t.id().hashCode());
        float[] x = QuantTestData.gaussian(rnd, t.cols() + 7);
        float[] w = new float[t.cols()];
        for (RowKernel k : new RowKernel[] {CpuKernels.scalar(t.format()), CpuKernels.of(t.format())}) {
            for (int r = 0; r < t.rows(); r++) {
                System.arraycopy(t.reference(), r * t.cols(), w, 0, t.cols());
                double want = QuantTestData.dot(w, x, 7);
                double scale = QuantTestData.absDot(w, x, 7);
                float got = k.dot(seg, (long) r * t.rowBytes(), x, 7, t.cols());
                assertTrue(Math.abs(got - want) <= 1e-5 * scale,
                        k.getClass().getSimpleName() + " " + t + " row " + r + ": " + got + " vs " + want);
                float[] scratch = new float[RowKernel.DOT_SCRATCH];
                float got2 = k.dot(seg, (long) r * t.rowBytes(), x, 7, t.cols(), scratch);
                assertTrue(Math.abs(got2 - want) <= 1e-5 * scale, "scratch dot of " + t + " row " + r);
            }
        }
    }
}

package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * For every format: the selected kernel's {@code dot} (Vector API when available), the scalar
 * {@code dot}, and a double-precision dot of the scalar dequantization must agree. Tolerance: the
 * difference to the double result may be at most 1e-5 of Σ|w·x| (float accumulation over n ≤ 4096
 * terms, summed per block, stays far below that; a wrong nibble, scale or sign is far above it for
 * these random rows). Rows are random bytes with valid scales (every bit pattern occurs) and quantized
 * Gaussian data, of several lengths, at odd byte offsets in heap and native memory, with x at an
 * offset. The selected kernel's {@code dequantize} must equal the scalar one bit for bit.
 */
class DotConsistencyTest {
    static final GgmlType[] FORMATS = QuantTestData.FORMATS;
    private static final double TOLERANCE = 1e-5;

    @ParameterizedTest
    @FieldSource("FORMATS")
    void vectorScalarAndDoubleAgree(GgmlType type) {
        RowKernel scalar = CpuKernels.scalar(type);
        RowKernel fast = CpuKernels.of(type);
        Random r = new Random(type.ordinal() * 7919L);
        int bs = type.blockSize();
        int[] lengths = bs == 1 ? new int[] {1, 7, 8, 15, 16, 31, 33, 64, 100, 257, 4096}
                : new int[] {bs, 2 * bs, 3 * bs, 8 * bs, 4096 / bs * bs + bs};
        try (Arena arena = Arena.ofConfined()) {
            for (int n : lengths) {
                for (int trial = 0; trial < 4; trial++) {
                    byte[] bytes = trial % 2 == 0
                            ? QuantTestData.randomBlocks(type, n / bs, r)
                            : QuantTestData.quantize(scalar, QuantTestData.gaussian(r, n)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                    int off = 1 + r.nextInt(15);
                    MemorySegment seg = trial < 2
                            ? MemorySegment.ofArray(new byte[bytes.length + 32])
                            : arena.allocate(bytes.length + 32);
                    QuantTestData.placeAt(bytes, off, seg);
                    int xOff = r.nextInt(9);
                    float[] x = QuantTestData.gaussian(r, n + xOff + 3);

                    float[] w = new float[n];
                    scalar.dequantize(seg, off, w, 0, n);
                    float[] wFast = new float[n + 2];
                    fast.dequantize(seg, off, wFast, 1, n);
                    for (int i = 0; i < n; i++) {
                        assertEquals(Float.floatToRawIntBits(w[i]), Float.floatToRawIntBits(wFast[i + 1]),
                                () -> type + " dequantize differs from scalar, n=" + n);
                    }
                    assertEquals(0f, wFast[0], "dequantize wrote before dstOffset");
                    assertEquals(0f, wFast[n + 1], "dequantize wrote past n");

                    double want = QuantTestData.dot(w, x, xOff);
                    double scale = QuantTestData.absDot(w, x, xOff);
                    float gotScalar = scalar.dot(seg, off, x, xOff, n);
                    float gotFast = fast.dot(seg, off, x, xOff, n);
                    String where = type + " n=" + n + " trial " + trial + ": want " + want + " (scale " + scale + ")";
                    assertTrue(Math.abs(gotScalar - want) <= TOLERANCE * scale, where + ", scalar " + gotScalar);
                    assertTrue(Math.abs(gotFast - want) <= TOLERANCE * scale,
                            where + ", " + fast.getClass().getSimpleName() + " " + gotFast);
                    // The decode step's entry point: the dot with scratch (NaN-filled, so stale values would show).
                    float[] scratch = new float[RowKernel.DOT_SCRATCH];
                    java.util.Arrays.fill(scratch, Float.NaN);
                    float gotScratch = fast.dot(seg, off, x, xOff, n, scratch);
                    assertTrue(Math.abs(gotScratch - want) <= TOLERANCE * scale,
                            where + ", " + fast.getClass().getSimpleName() + " with scratch " + gotScratch);
                }
            }
        }
    }

    @ParameterizedTest
    @FieldSource("FORMATS")
    void emptyRowDotsToZero(GgmlType type) {
        MemorySegment none = MemorySegment.ofArray(new byte[0]);
        assertEquals(0f, CpuKernels.of(type).dot(none, 0, new float[0], 0, 0));
        assertEquals(0f, CpuKernels.scalar(type).dot(none, 0, new float[0], 0, 0));
    }
}

package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Blocks written byte by byte, with the values the format's formula gives worked out in the comments.
 * Covers the formats without a ggml reference file (Q4_1, BF16), ggml's reference quantizers
 * (Q8_0, Q4_0, Q4_1, with their rounding rules) and the 6-bit K-quant scale packing. Every decoding
 * is checked through both the scalar and the selected kernel (dequantize and dot).
 */
class HandBlocksTest {

    private static byte[] hex(String hex) {
        return HexFormat.of().parseHex(hex.replace(" ", ""));
    }

    private static MemorySegment bytes(String hex) {
        return MemorySegment.ofArray(hex(hex));
    }

    /**
     * Dequantize with both kernels, and dot with unit vectors (which must pick out single values; only
     * when all values are finite, since Inf·0 is NaN).
     */
    private static void assertDecodes(GgmlType type, MemorySegment block, float[] expected) {
        boolean finite = true;
        for (float v : expected) {
            finite &= Float.isFinite(v);
        }
        for (RowKernel k : new RowKernel[] {CpuKernels.scalar(type), CpuKernels.of(type)}) {
            float[] got = new float[expected.length];
            k.dequantize(block, 0, got, 0, expected.length);
            assertArrayEquals(expected, got, k.getClass().getSimpleName());
            if (!finite) {
                continue;
            }
            float[] e = new float[expected.length];
            for (int i = 0; i < expected.length; i++) {
                e[i] = 1;
                // + 0f: a dot of a -0 value is +0 (the sum starts at +0), which is the same number.
                assertEquals(expected[i] + 0f, k.dot(block, 0, e, 0, expected.length) + 0f,
                        k.getClass().getSimpleName() + " dot with unit vector " + i);
                e[i] = 0;
            }
        }
    }

    private static byte[] quantized(GgmlType type, float[] x) {
        return QuantTestData.quantize(CpuKernels.of(type), x).toArray(ValueLayout.JAVA_BYTE);
    }

    // Q4_1 block 1: d = 0x3800 = 0.5, m = 0xc000 = -2.0, qs[j] = j | (15 - j) << 4.
    //   value j      = d·j + m        = 0.5·j - 2         (j = 0..15: -2.0, -1.5, ..., 5.5)
    //   value 16 + j = d·(15 - j) + m = 0.5·(15 - j) - 2  (5.5, 5.0, ..., -2.0)
    // Q4_1 block 2: d = 0x3400 = 0.25, m = 0x3e00 = 1.5, every qs byte 0x3a:
    //   low nibble 10 -> 0.25·10 + 1.5 = 4.0 (values 0..15); high nibble 3 -> 0.25·3 + 1.5 = 2.25 (16..31)
    private static final String Q4_1_BLOCKS =
            "0038 00c0 f0e1d2c3b4a5968778695a4b3c2d1e0f"
            + "0034 003e 3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a";
    private static final float[] Q4_1_VALUES = {
        -2.0f, -1.5f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 2.5f, 3.0f, 3.5f, 4.0f, 4.5f, 5.0f, 5.5f,
        5.5f, 5.0f, 4.5f, 4.0f, 3.5f, 3.0f, 2.5f, 2.0f, 1.5f, 1.0f, 0.5f, 0.0f, -0.5f, -1.0f, -1.5f, -2.0f,
        4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f, 4f,
        2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f, 2.25f,
    };

    @Test
    void q4_1Dequantize() {
        assertDecodes(GgmlType.Q4_1, bytes(Q4_1_BLOCKS), Q4_1_VALUES);
    }

    @Test
    void q4_1QuantizeReproducesTheBlock() {
        // Block 1's values: min -2, max 5.5 -> d = 7.5/15 = 0.5, m = -2, q = trunc((x + 2)/0.5 + 0.5) = j.
        float[] x = java.util.Arrays.copyOf(Q4_1_VALUES, 32);
        assertArrayEquals(hex(Q4_1_BLOCKS.replace(" ", "").substring(0, 40)), quantized(GgmlType.Q4_1, x));
    }

    // BF16 (little-endian shorts; the float is the short shifted left by 16):
    //   0x3f80 -> 1.0; 0xbfc0 -> -1.5; 0x4049 -> 3.140625 (0x40490000); 0x7f80 -> +Inf; 0x8000 -> -0.0;
    //   0x0001 -> 0x00010000 = 2^-133 (a subnormal float); 0xff7f -> -max bf16 = -(2 - 2^-7)·2^127; 0x7fc0 -> NaN
    private static final String BF16_VALUES = "803f c0bf 4940 807f 0080 0100 7fff c07f";

    @Test
    void bf16Dequantize() {
        float[] expected = {1.0f, -1.5f, 3.140625f, Float.POSITIVE_INFINITY, -0.0f, 0x1p-133f,
                -0x1.fep127f, Float.NaN};
        assertDecodes(GgmlType.BF16, bytes(BF16_VALUES), expected);
        // The finite ones again, for the dot product (Inf·0 would be NaN): 16 values so that the vector
        // kernel's main loop runs, not only its scalar tail.
        assertDecodes(GgmlType.BF16, bytes("803f c0bf 4940 0080 0100 7fff".repeat(2) + "803f".repeat(4)),
                new float[] {1.0f, -1.5f, 3.140625f, -0.0f, 0x1p-133f, -0x1.fep127f,
                    1.0f, -1.5f, 3.140625f, -0.0f, 0x1p-133f, -0x1.fep127f, 1f, 1f, 1f, 1f});
    }

    @Test
    void bf16QuantizeRoundsToNearestEven() {
        float[] x = {
            1.0f,                               // 0x3f800000 -> 0x3f80 exactly
            Float.intBitsToFloat(0x40490fdb),   // pi: low half 0x0fdb < 0x8000 -> down to 0x4049
            Float.intBitsToFloat(0x3f808000),   // tie, 0x3f80 even -> stays 0x3f80
            Float.intBitsToFloat(0x3f818000),   // tie, 0x3f81 odd -> up to 0x3f82
            Float.intBitsToFloat(0x3f80c000),   // above half -> up to 0x3f81
            Float.intBitsToFloat(0x7f800001),   // NaN with payload only in the low bits: stays NaN, quiet 0x7fc0
            -0.0f,                              // 0x8000
            Float.intBitsToFloat(0x7f7fffff),   // max float rounds up to +Inf 0x7f80
        };
        assertArrayEquals(hex("803f 4940 803f 823f 813f c07f 0080 807f"),
                quantized(GgmlType.BF16, x));
    }

    @Test
    void q8_0QuantizeRoundsHalvesAwayFromZero() {
        // amax 127 -> d = 1 (half 0x3c00), q = roundf(x): 127, -63.5 -> -64, 63.5 -> 64, 2.5 -> 3,
        // -2.5 -> -3, 0.49 -> 0, -0.5 -> -1, rest 0.
        float[] x = new float[32];
        float[] head = {127f, -63.5f, 63.5f, 2.5f, -2.5f, 0.49f, -0.5f};
        System.arraycopy(head, 0, x, 0, head.length);
        assertArrayEquals(hex("003c 7f c0 40 03 fd 00 ff" + "00".repeat(25)),
                quantized(GgmlType.Q8_0, x));
    }

    @Test
    void q8_0Dequantize() {
        // d = 0x3800 = 0.5, q = -128, -100, 0, 1, 127, then 27 × 2 -> d·q.
        MemorySegment b = bytes("0038 80 9c 00 01 7f" + "02".repeat(27));
        float[] expected = new float[32];
        float[] head = {-64f, -50f, 0f, 0.5f, 63.5f};
        System.arraycopy(head, 0, expected, 0, head.length);
        java.util.Arrays.fill(expected, 5, 32, 1f);
        assertDecodes(GgmlType.Q8_0, b, expected);
    }

    @Test
    void q4_0QuantizeUsesSignedMaxAndTruncation() {
        // The value of largest magnitude is -8 -> d = -8 / -8 = 1 (half 0x3c00);
        // q = min(15, trunc(x + 8.5)): -8 -> 0, 7 -> 15, 7.4 -> 15, 0.5 -> 9, -0.5 -> 8, 0.49 -> 8,
        // 7.6 -> 15 (16 clamped), 0 -> 8; value 16 is -7.5 -> 1. Byte j = q[j] | q[j+16] << 4.
        float[] x = new float[32];
        float[] head = {-8f, 7f, 7.4f, 0.5f, -0.5f, 0.49f, 7.6f};
        System.arraycopy(head, 0, x, 0, head.length);
        x[16] = -7.5f;
        assertArrayEquals(hex("003c 10 8f 8f 89 88 88 8f" + "88".repeat(9)),
                quantized(GgmlType.Q4_0, x));
    }

    @Test
    void q4_0Dequantize() {
        // d = 0x3400 = 0.25; byte 0x9f: low nibble 15 -> (15 - 8)·0.25 = 1.75 (value 0),
        // high nibble 9 -> (9 - 8)·0.25 = 0.25 (value 16); bytes 0x08: 0 for values 1..15, (0 - 8)·0.25 = -2 for 17..31.
        MemorySegment b = bytes("0034 9f" + "08".repeat(15));
        float[] expected = new float[32];
        expected[0] = 1.75f;
        expected[16] = 0.25f;
        java.util.Arrays.fill(expected, 17, 32, -2f);
        assertDecodes(GgmlType.Q4_0, b, expected);
    }

    // Q4_K: d = 0x3c00 = 1.0, dmin = 0x3800 = 0.5; scales field (get_scale_min_k4):
    //   bytes 0-3  01 02 03 84: sc0..3 = 1, 2, 3, 4 (low 6 bits); byte 3's top bits 10 are sc7's bits 4-5
    //   bytes 4-7  00 01 02 c3: m0..3 = 0, 1, 2, 3; byte 7's top bits 11 are m7's bits 4-5
    //   bytes 8-11 45 56 67 f8: low nibbles sc4..7 = 5, 6, 7, 8 -> sc7 = 8 | 2 << 4 = 40;
    //                           high nibbles m4..7 = 4, 5, 6, 15 -> m7 = 15 | 3 << 4 = 63
    //   qs: every byte 0x21 -> q = 1 in even sub-blocks (low nibbles), 2 in odd ones (high nibbles).
    //   value = d·sc·q - dmin·m: sub-block 0: 1·1 - 0 = 1; 1: 2·2 - 0.5 = 3.5; 2: 3·1 - 1 = 2;
    //   3: 4·2 - 1.5 = 6.5; 4: 5·1 - 2 = 3; 5: 6·2 - 2.5 = 9.5; 6: 7·1 - 3 = 4; 7: 40·2 - 31.5 = 48.5
    @Test
    void q4_kDequantizeWithHighScaleBits() {
        MemorySegment b = bytes("003c 0038 01020384 000102c3 455667f8" + "21".repeat(128));
        float[] perSubBlock = {1f, 3.5f, 2f, 6.5f, 3f, 9.5f, 4f, 48.5f};
        float[] expected = new float[256];
        for (int i = 0; i < 256; i++) {
            expected[i] = perSubBlock[i / 32];
        }
        assertDecodes(GgmlType.Q4_K, b, expected);
    }

    /** The packed scale decoder against ggml's get_scale_min_k4, written out literally, on random fields. */
    @Test
    void kScalesMatchGetScaleMinK4() {
        Random r = new Random(3);
        byte[] q = new byte[12];
        for (int trial = 0; trial < 1000; trial++) {
            r.nextBytes(q);
            MemorySegment s = MemorySegment.ofArray(q);
            int a = s.get(Le.INT, 0);
            int b = s.get(Le.INT, 4);
            int c = s.get(Le.INT, 8);
            long sc = KScales.scales(a, b, c);
            long mn = KScales.mins(a, b, c);
            int[] scales = new int[8];
            int[] mins = new int[8];
            for (int j = 0; j < 8; j++) {
                int d;
                int m;
                if (j < 4) {
                    d = q[j] & 63;
                    m = q[j + 4] & 63;
                } else {
                    d = (q[j + 4] & 0xF) | (((q[j - 4] & 0xff) >> 6) << 4);
                    m = ((q[j + 4] & 0xff) >> 4) | (((q[j] & 0xff) >> 6) << 4);
                }
                assertEquals(d, KScales.get(sc, j), "scale " + j);
                assertEquals(m, KScales.get(mn, j), "min " + j);
                scales[j] = d;
                mins[j] = m;
            }
            // ...and encode is its inverse.
            MemorySegment back = MemorySegment.ofArray(new byte[12]);
            KScales.encode(scales, mins, back, 0);
            assertArrayEquals(q, back.toArray(ValueLayout.JAVA_BYTE));
        }
    }
}

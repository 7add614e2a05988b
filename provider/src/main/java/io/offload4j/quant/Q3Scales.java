package io.offload4j.quant;

import java.lang.foreign.MemorySegment;

/**
 * The 12-byte scale field of Q3_K: sixteen 6-bit sub-block scales, stored biased by 32. Bytes 0-7 hold
 * the low 4 bits of scales 0-7 (low nibbles) and 8-15 (high nibbles); byte {@code 8 + k} holds the top
 * 2 bits of scales {@code k}, {@code k + 4}, {@code k + 8}, {@code k + 12} in its bit pairs 0-1, 2-3,
 * 4-5, 6-7.
 *
 * <p>As {@link KScales}: the decoders take the field as three little-endian ints and return eight
 * biased 6-bit values packed one per byte in a long, so a kernel decodes a super-block's scales with a
 * handful of integer operations and no array.
 */
final class Q3Scales {
    static final int BYTES = 12;
    private static final int LOW4 = 0x0f0f0f0f;
    private static final int LOW2 = 0x03030303;

    private Q3Scales() {}

    /** Scales 0-7 (plus 32), one per byte; {@code a}, {@code b}, {@code c} are the field's ints at +0, +4, +8. */
    static long first(int a, int b, int c) {
        int lo = (a & LOW4) | ((c & LOW2) << 4);
        int hi = (b & LOW4) | (((c >>> 2) & LOW2) << 4);
        return (lo & 0xffffffffL) | ((long) hi << 32);
    }

    /** Scales 8-15 (plus 32), one per byte. */
    static long second(int a, int b, int c) {
        int lo = ((a >>> 4) & LOW4) | (((c >>> 4) & LOW2) << 4);
        int hi = ((b >>> 4) & LOW4) | (((c >>> 6) & LOW2) << 4);
        return (lo & 0xffffffffL) | ((long) hi << 32);
    }

    /** Signed scale {@code j} (0-7) of a packed long from {@link #first} or {@link #second}. */
    static int get(long packed, int j) {
        return ((int) (packed >>> (j << 3)) & 0x3f) - 32;
    }

    /** Writes sixteen signed scales (each -32..31) in ggml's layout at {@code offset}. */
    static void encode(int[] scales, MemorySegment dst, long offset) {
        for (int k = 0; k < 12; k++) {
            dst.set(Le.BYTE, offset + k, (byte) 0);
        }
        for (int j = 0; j < 16; j++) {
            int v = scales[j] + 32;
            long lo = offset + (j & 7);
            dst.set(Le.BYTE, lo, (byte) (dst.get(Le.BYTE, lo) | (v & 0xf) << (j < 8 ? 0 : 4)));
            long hi = offset + 8 + (j & 3);
            dst.set(Le.BYTE, hi, (byte) (dst.get(Le.BYTE, hi) | (v >> 4) << (2 * (j >> 2))));
        }
    }
}

package io.offload4j.quant;

import java.lang.foreign.MemorySegment;

/**
 * The 12-byte scale field of Q4_K and Q5_K: eight 6-bit sub-block scales and eight 6-bit sub-block
 * mins (ggml's {@code get_scale_min_k4}). Bytes 0-3 hold scales 0-3 in their low 6 bits, bytes 4-7
 * mins 0-3; bytes 8-11 hold the low 4 bits of scales 4-7 (low nibble) and of mins 4-7 (high nibble),
 * whose top 2 bits sit in the top 2 bits of bytes 0-3 (scales) and 4-7 (mins).
 *
 * <p>The decoders work on the field read as three little-endian ints and return the eight 6-bit values
 * packed one per byte in a long (value {@code j} in bits {@code 8j..8j+7}), so a kernel decodes a
 * super-block's scales with a handful of integer operations and no array.
 */
final class KScales {
    static final int BYTES = 12;

    private KScales() {}

    /** Sub-block scales 0-7, one per byte; {@code a}, {@code b}, {@code c} are the field's ints at +0, +4, +8. */
    static long scales(int a, int b, int c) {
        int lo = a & 0x3f3f3f3f;
        int hi = (c & 0x0f0f0f0f) | ((a >>> 2) & 0x30303030);
        return (lo & 0xffffffffL) | ((long) hi << 32);
    }

    /** Sub-block mins 0-7, one per byte. */
    static long mins(int a, int b, int c) {
        int lo = b & 0x3f3f3f3f;
        int hi = ((c >>> 4) & 0x0f0f0f0f) | ((b >>> 2) & 0x30303030);
        return (lo & 0xffffffffL) | ((long) hi << 32);
    }

    /** Value {@code j} (0-7) of a packed long from {@link #scales} or {@link #mins}. */
    static int get(long packed, int j) {
        return (int) (packed >>> (j << 3)) & 0xff;
    }

    /** Writes eight scales and eight mins (each 0-63) in ggml's layout at {@code offset}. */
    static void encode(int[] scales, int[] mins, MemorySegment dst, long offset) {
        for (int j = 0; j < 4; j++) {
            dst.set(Le.BYTE, offset + j, (byte) (scales[j] | ((scales[j + 4] >> 4) << 6)));
            dst.set(Le.BYTE, offset + 4 + j, (byte) (mins[j] | ((mins[j + 4] >> 4) << 6)));
            dst.set(Le.BYTE, offset + 8 + j, (byte) ((scales[j + 4] & 0xf) | ((mins[j + 4] & 0xf) << 4)));
        }
    }
}

package io.offload4j.engine;

import java.nio.charset.StandardCharsets;

/**
 * Collects the bytes of generated tokens and releases them as text only once they form complete
 * UTF-8 characters (a character may be split over several byte-fallback tokens).
 */
final class Utf8Accumulator {
    private byte[] pending = new byte[16];
    private int length;

    /** Adds a token's bytes; returns the text that became complete (possibly empty). */
    String append(byte[] bytes) {
        if (length + bytes.length > pending.length) {
            pending = java.util.Arrays.copyOf(pending, Math.max(pending.length * 2, length + bytes.length));
        }
        System.arraycopy(bytes, 0, pending, length, bytes.length);
        length += bytes.length;
        int complete = completePrefix();
        if (complete == 0) {
            return "";
        }
        String text = new String(pending, 0, complete, StandardCharsets.UTF_8);
        System.arraycopy(pending, complete, pending, 0, length - complete);
        length -= complete;
        return text;
    }

    /** Whatever is left (invalid bytes become U+FFFD), at the end of generation. */
    String flush() {
        String text = new String(pending, 0, length, StandardCharsets.UTF_8);
        length = 0;
        return text;
    }

    /** Length of the prefix that does not end inside an unfinished multi-byte sequence. */
    private int completePrefix() {
        // Look back at most 3 bytes for the start of the last sequence.
        for (int back = 1; back <= Math.min(4, length); back++) {
            int b = pending[length - back] & 0xff;
            if ((b & 0xC0) == 0x80) {
                continue; // continuation byte
            }
            int need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
            if (b >= 0xF8 || (b & 0xC0) == 0x80) {
                return length; // invalid lead byte: let the decoder replace it
            }
            return need > back ? length - back : length;
        }
        return length;
    }
}

package io.offload4j.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Turns a stream of generated token ids into text that is always valid: bytes of a UTF-8 sequence
 * split across tokens (byte-fallback tokens {@code <0xE6>}, or byte-level pieces of a character) are
 * held back until the sequence is complete. Control tokens produce nothing. Invalid bytes that can
 * never complete a character come out as U+FFFD. One instance per stream; not thread-safe.
 */
public final class StreamingDetokenizer {

    private final Tokenizer tokenizer;
    private final boolean stripLeadingSpace;
    private byte[] pending = new byte[16];
    private int pendingLength;
    private boolean first = true;

    /** A detokenizer that writes every piece as it is (the text of a continuation, e.g. after a prompt). */
    public StreamingDetokenizer(Tokenizer tokenizer) {
        this(tokenizer, false);
    }

    /**
     * @param stripLeadingSpace drop one leading space of the first text piece, as {@link Tokenizer#decode}
     *                          does for SentencePiece vocabularies (use when streaming a whole sequence)
     */
    public StreamingDetokenizer(Tokenizer tokenizer, boolean stripLeadingSpace) {
        this.tokenizer = tokenizer;
        this.stripLeadingSpace = stripLeadingSpace;
    }

    /** Adds a token; returns the text that is now complete (possibly empty, never a partial character). */
    public String feed(int token) {
        if (tokenizer.isControl(token)) {
            return "";
        }
        byte[] piece = tokenizer.tokenBytes(token);
        int from = 0;
        if (first && piece.length > 0) {
            if (stripLeadingSpace && piece[0] == ' ') {
                from = 1;
            }
            first = false;
        }
        int add = piece.length - from;
        if (pendingLength + add > pending.length) {
            pending = Arrays.copyOf(pending, Math.max(pending.length * 2, pendingLength + add));
        }
        System.arraycopy(piece, from, pending, pendingLength, add);
        pendingLength += add;
        int complete = completePrefix(pending, pendingLength);
        if (complete == 0) {
            return "";
        }
        String text = new String(pending, 0, complete, StandardCharsets.UTF_8);
        System.arraycopy(pending, complete, pending, 0, pendingLength - complete);
        pendingLength -= complete;
        return text;
    }

    /** Adds several tokens; returns the text completed by them. */
    public String feed(int... tokens) {
        StringBuilder b = new StringBuilder();
        for (int t : tokens) {
            b.append(feed(t));
        }
        return b.toString();
    }

    /** Ends the stream: returns what is held back, an incomplete sequence as U+FFFD. */
    public String flush() {
        String text = new String(pending, 0, pendingLength, StandardCharsets.UTF_8);
        pendingLength = 0;
        return text;
    }

    /** Bytes held back, waiting for the rest of a character. */
    public int pendingBytes() {
        return pendingLength;
    }

    /** Starts a new stream. */
    public void reset() {
        pendingLength = 0;
        first = true;
    }

    /**
     * Length of the longest prefix that does not end inside a UTF-8 sequence which may still be
     * completed: a valid lead byte followed by fewer continuation bytes than it announces.
     */
    static int completePrefix(byte[] b, int n) {
        for (int back = 1; back <= 3 && back <= n; back++) {
            int i = n - back;
            int v = b[i] & 0xFF;
            if ((v & 0xC0) == 0x80) {
                continue; // continuation byte: look further back for its lead
            }
            int need = v >= 0xF0 && v <= 0xF4 ? 4 : v >= 0xE0 && v <= 0xEF ? 3 : v >= 0xC2 && v <= 0xDF ? 2 : 1;
            return need > back ? i : n;
        }
        return n;
    }
}

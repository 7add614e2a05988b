package io.offload4j.engine.grammar;

/**
 * The bytes allowed between the quotes of a JSON string, as a small automaton: state 0 is "between characters";
 * the other states are inside an escape ({@code \n}, {@code \u00e9}) or inside a multi-byte UTF-8 character, so
 * that the text is valid JSON <em>and</em> valid UTF-8 (no overlong forms, no surrogates) wherever a token ends.
 * {@code "} is not part of the body: the grammar element that follows closes the string.
 */
final class JsonStringBytes {

    static final int BETWEEN = 0;
    private static final int ESCAPE = 1;
    private static final int HEX4 = 2; // \\u with 4 hex digits to go; HEX4 + k: 4 - k to go
    private static final int CONT1 = 6; // UTF-8 continuation bytes to go: 1, 2, 3
    private static final int CONT2 = 7;
    private static final int CONT3 = 8;
    private static final int AFTER_E0 = 9; // second byte restricted (no overlong form)
    private static final int AFTER_ED = 10; // second byte restricted (no surrogate)
    private static final int AFTER_F0 = 11; // second byte restricted (no overlong form)
    private static final int AFTER_F4 = 12; // second byte restricted (at most U+10FFFF)
    static final int STATES = 13;

    /** {@code NEXT[state * 256 + b]}: the state after byte {@code b}, or -1 when the byte is not allowed. */
    private static final int[] NEXT = new int[STATES * 256];
    /** {@code ALLOWED[state * 4 + w]}: word {@code w} of the set of bytes allowed in {@code state}. */
    private static final long[] ALLOWED = new long[STATES * 4];
    /** The fewest bytes that bring each state back to {@link #BETWEEN}. */
    private static final int[] COST = {0, 1, 4, 3, 2, 1, 1, 2, 3, 2, 2, 3, 3};

    static {
        java.util.Arrays.fill(NEXT, -1);
        for (int b = 0x20; b < 0x80; b++) {
            if (b != '"' && b != '\\') {
                NEXT[b] = BETWEEN;
            }
        }
        NEXT['\\'] = ESCAPE;
        for (int b = 0xC2; b <= 0xDF; b++) {
            NEXT[b] = CONT1;
        }
        NEXT[0xE0] = AFTER_E0;
        for (int b = 0xE1; b <= 0xEF; b++) {
            NEXT[b] = b == 0xED ? AFTER_ED : CONT2;
        }
        NEXT[0xF0] = AFTER_F0;
        for (int b = 0xF1; b <= 0xF3; b++) {
            NEXT[b] = CONT3;
        }
        NEXT[0xF4] = AFTER_F4;
        for (char c : "\"\\/bfnrt".toCharArray()) {
            NEXT[ESCAPE * 256 + c] = BETWEEN;
        }
        NEXT[ESCAPE * 256 + 'u'] = HEX4;
        for (int k = 0; k < 4; k++) {
            int to = k == 3 ? BETWEEN : HEX4 + k + 1;
            for (char c : "0123456789abcdefABCDEF".toCharArray()) {
                NEXT[(HEX4 + k) * 256 + c] = to;
            }
        }
        for (int b = 0x80; b <= 0xBF; b++) {
            NEXT[CONT1 * 256 + b] = BETWEEN;
            NEXT[CONT2 * 256 + b] = CONT1;
            NEXT[CONT3 * 256 + b] = CONT2;
        }
        for (int b = 0xA0; b <= 0xBF; b++) {
            NEXT[AFTER_E0 * 256 + b] = CONT1;
        }
        for (int b = 0x80; b <= 0x9F; b++) {
            NEXT[AFTER_ED * 256 + b] = CONT1;
        }
        for (int b = 0x90; b <= 0xBF; b++) {
            NEXT[AFTER_F0 * 256 + b] = CONT2;
        }
        for (int b = 0x80; b <= 0x8F; b++) {
            NEXT[AFTER_F4 * 256 + b] = CONT2;
        }
        for (int state = 0; state < STATES; state++) {
            for (int b = 0; b < 256; b++) {
                if (NEXT[state * 256 + b] >= 0) {
                    ALLOWED[state * 4 + (b >>> 6)] |= 1L << (b & 63);
                }
            }
        }
    }

    private JsonStringBytes() {}

    /** The state after {@code b} in {@code state}, or -1. */
    static int next(int state, int b) {
        return NEXT[state * 256 + (b & 0xFF)];
    }

    /** Fewest bytes to finish the character or escape under way. */
    static int cost(int state) {
        return COST[state];
    }

    /** Adds the bytes allowed in {@code state} to the 4-word byte set at {@code bits[at..at+3]}. */
    static void addAllowedBytes(int state, long[] bits, int at) {
        bits[at] |= ALLOWED[state * 4];
        bits[at + 1] |= ALLOWED[state * 4 + 1];
        bits[at + 2] |= ALLOWED[state * 4 + 2];
        bits[at + 3] |= ALLOWED[state * 4 + 3];
    }

    /** True when {@code bytes} are whole characters without quote, backslash or control characters. */
    static boolean isPlain(byte[] bytes) {
        if (bytes.length == 0) {
            return false;
        }
        int state = BETWEEN;
        for (byte b : bytes) {
            if (b == '\\') {
                return false;
            }
            state = next(state, b);
            if (state < 0) {
                return false;
            }
        }
        return state == BETWEEN;
    }
}

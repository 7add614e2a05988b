package io.offload4j.engine.speculative;

/**
 * Prompt lookup: the last n tokens of the sequence are searched for earlier in the sequence (the prompt and the text
 * generated so far), longest n first; at the latest earlier occurrence, the tokens that followed it are the draft.
 * Needs no second model, and suits answers that quote their input (RAG answers repeating retrieved passages, code
 * edits, summaries with names). Stateless, so one instance serves every sequence; a call scans the history once per
 * n-gram size and allocates nothing.
 */
public final class PromptLookupDrafter implements Drafter, DrafterFactory {

    private final int minNgram;
    private final int maxNgram;

    /** Matches the last {@code maxNgram}, then shorter n-grams down to {@code minNgram} tokens. */
    public PromptLookupDrafter(int minNgram, int maxNgram) {
        if (minNgram < 1 || maxNgram < minNgram) {
            throw new IllegalArgumentException("prompt lookup n-gram sizes must satisfy 1 <= min <= max, were min "
                    + minNgram + " and max " + maxNgram);
        }
        this.minNgram = minNgram;
        this.maxNgram = maxNgram;
    }

    @Override
    public int draft(int[] history, int length, int max, int[] out) {
        for (int n = Math.min(maxNgram, length - 1); n >= minNgram; n--) {
            int suffix = length - n;
            for (int start = suffix - 1; start >= 0; start--) {
                if (equal(history, start, suffix, n)) {
                    int from = start + n; // < length: the occurrence lies before the suffix
                    int count = Math.min(max, length - from);
                    System.arraycopy(history, from, out, 0, count);
                    return count;
                }
            }
        }
        return 0;
    }

    private static boolean equal(int[] h, int a, int b, int n) {
        for (int i = 0; i < n; i++) {
            if (h[a + i] != h[b + i]) {
                return false;
            }
        }
        return true;
    }

    @Override
    public Drafter open(int capacity) {
        return this;
    }

    @Override
    public void close() {
        // stateless: nothing held per sequence
    }

    @Override
    public String description() {
        return "prompt lookup (n-grams of " + minNgram + ".." + maxNgram + " tokens)";
    }
}

package io.offload4j.tokenizer;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds special and added tokens written in text: the leftmost occurrence, and of those starting
 * there the longest. Control and unknown tokens (e.g. {@code <|im_start|>}, {@code <s>}) are only
 * recognised when the caller asks for it; user-defined (added, non-special) tokens always are, as
 * in llama.cpp and Hugging Face tokenizers. Immutable.
 */
final class SpecialTokenMatcher {

    /** Candidates by first UTF-16 char, longest first. */
    private final Map<Character, Candidate[]> byFirstChar;
    private final boolean[] firstCharSeen = new boolean[65536];
    private final boolean any;

    record Candidate(String text, int id, boolean alwaysMatched) {}

    SpecialTokenMatcher(String[] tokens, int[] types) {
        Map<Character, List<Candidate>> lists = new HashMap<>();
        for (int id = 0; id < tokens.length; id++) {
            int type = types[id];
            if (type != TokenType.CONTROL && type != TokenType.USER_DEFINED && type != TokenType.UNKNOWN) {
                continue;
            }
            String text = tokens[id];
            if (text.isEmpty()) {
                continue;
            }
            lists.computeIfAbsent(text.charAt(0), c -> new ArrayList<>())
                    .add(new Candidate(text, id, type == TokenType.USER_DEFINED));
        }
        byFirstChar = new HashMap<>();
        for (var e : lists.entrySet()) {
            List<Candidate> l = e.getValue();
            l.sort(Comparator.comparingInt((Candidate c) -> -c.text().length()).thenComparingInt(Candidate::id));
            byFirstChar.put(e.getKey(), l.toArray(new Candidate[0]));
            firstCharSeen[e.getKey()] = true;
        }
        any = !byFirstChar.isEmpty();
    }

    /**
     * The next special token at or after {@code from}: returns its start index and stores the id in
     * {@code idOut[0]} and the end index in {@code idOut[1]}; -1 when there is none.
     */
    int find(String text, int from, boolean parseSpecial, int[] idOut) {
        if (!any) {
            return -1;
        }
        int n = text.length();
        for (int i = from; i < n; i++) {
            char c = text.charAt(i);
            if (!firstCharSeen[c]) {
                continue;
            }
            for (Candidate cand : byFirstChar.get(c)) {
                if ((parseSpecial || cand.alwaysMatched()) && text.startsWith(cand.text(), i)) {
                    idOut[0] = cand.id();
                    idOut[1] = i + cand.text().length();
                    return i;
                }
            }
        }
        return -1;
    }
}

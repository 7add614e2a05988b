package io.offload4j.tokenizer;

import java.text.Normalizer;
import java.util.HashMap;
import java.util.Map;

/**
 * BERT's tokenizer, as Hugging Face's {@code BertNormalizer} + {@code BertPreTokenizer} + {@code WordPiece} model
 * compute it: control characters removed and white space made a plain space, CJK ideographs set apart, accents
 * stripped (NFD, combining marks dropped) and lower-casing when the model was trained uncased; then words split at
 * white space with each punctuation character a word of its own; then each word cut greedily into the longest
 * vocabulary pieces from its start, continuation pieces written with {@code ##}. A word that cannot be cut, or one
 * longer than {@code maxInputCharsPerWord} characters, becomes {@code [UNK]}.
 */
public final class WordPieceTokenizer extends EncoderTokenizer {

    /** Normalisation switches of Hugging Face's {@code BertNormalizer}. */
    public record Normalization(boolean cleanText, boolean handleChineseChars, boolean stripAccents, boolean lowercase) {
        /** {@code bert-base-uncased} and most sentence-transformers models. */
        public static final Normalization UNCASED = new Normalization(true, true, true, true);
    }

    private final String[] vocabulary;
    private final Map<String, Integer> ids;
    private final int unkId;
    private final String prefix;
    private final int maxInputCharsPerWord;
    private final Normalization normalization;

    /**
     * @param vocabulary pieces by id, continuation pieces with their prefix (e.g. {@code ##ing})
     * @param prefix     the continuation prefix, {@code ##}
     */
    public WordPieceTokenizer(String[] vocabulary, int unkId, String prefix, int maxInputCharsPerWord,
                              Normalization normalization, int clsId, int sepId) {
        super(clsId, sepId, PairStyle.BERT);
        this.vocabulary = vocabulary.clone();
        this.ids = new HashMap<>(vocabulary.length * 2);
        for (int i = 0; i < vocabulary.length; i++) {
            if (vocabulary[i] != null) {
                ids.putIfAbsent(vocabulary[i], i);
            }
        }
        this.unkId = unkId;
        this.prefix = prefix;
        this.maxInputCharsPerWord = maxInputCharsPerWord;
        this.normalization = normalization;
    }

    @Override
    public int[] tokens(String text) {
        String normal = normalize(text);
        IntList out = new IntList();
        StringBuilder word = new StringBuilder();
        int i = 0;
        while (i < normal.length()) {
            int c = normal.codePointAt(i);
            i += Character.charCount(c);
            if (isWhitespace(c)) {
                flush(word, out);
            } else if (isPunctuation(c)) {
                flush(word, out);
                word.appendCodePoint(c);
                flush(word, out);
            } else {
                word.appendCodePoint(c);
            }
        }
        flush(word, out);
        return out.toArray();
    }

    private void flush(StringBuilder word, IntList out) {
        if (word.isEmpty()) {
            return;
        }
        wordPieces(word.toString(), out);
        word.setLength(0);
    }

    /** Greedy longest-match-first from the start of the word; the whole word is [UNK] when a part matches nothing. */
    private void wordPieces(String word, IntList out) {
        if (word.codePointCount(0, word.length()) > maxInputCharsPerWord) {
            out.add(unkId);
            return;
        }
        int mark = out.size();
        int start = 0;
        while (start < word.length()) {
            int end = word.length();
            int found = -1;
            while (end > start) {
                String piece = start == 0 ? word.substring(start, end) : prefix + word.substring(start, end);
                Integer id = ids.get(piece);
                if (id != null) {
                    found = id;
                    break;
                }
                end = Character.isLowSurrogate(word.charAt(end - 1)) && end - 2 > start ? end - 2 : end - 1;
            }
            if (found < 0) {
                out.truncate(mark);
                out.add(unkId);
                return;
            }
            out.add(found);
            start = end;
        }
    }

    /** Hugging Face's BertNormalizer, in its order: clean, CJK, accents, lower case. */
    String normalize(String text) {
        StringBuilder s = new StringBuilder(text.length() + 8);
        for (int i = 0; i < text.length(); ) {
            int c = text.codePointAt(i);
            i += Character.charCount(c);
            if (normalization.cleanText()) {
                if (c == 0 || c == 0xFFFD || isControl(c)) {
                    continue;
                }
                if (isWhitespace(c)) {
                    s.append(' ');
                    continue;
                }
            }
            if (normalization.handleChineseChars() && isChinese(c)) {
                s.append(' ').appendCodePoint(c).append(' ');
            } else {
                s.appendCodePoint(c);
            }
        }
        String r = s.toString();
        if (normalization.stripAccents()) {
            String nfd = Normalizer.normalize(r, Normalizer.Form.NFD);
            StringBuilder t = new StringBuilder(nfd.length());
            for (int i = 0; i < nfd.length(); ) {
                int c = nfd.codePointAt(i);
                i += Character.charCount(c);
                if (Character.getType(c) != Character.NON_SPACING_MARK) {
                    t.appendCodePoint(c);
                }
            }
            r = t.toString();
        }
        if (normalization.lowercase()) {
            r = r.toLowerCase(java.util.Locale.ROOT);
        }
        return r;
    }

    static boolean isWhitespace(int c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || Character.isWhitespace(c)
                || Character.getType(c) == Character.SPACE_SEPARATOR;
    }

    /** Unicode "other" categories, except tab, newline and carriage return (which count as white space). */
    private static boolean isControl(int c) {
        if (c == '\t' || c == '\n' || c == '\r') {
            return false;
        }
        int t = Character.getType(c);
        return t == Character.CONTROL || t == Character.FORMAT || t == Character.SURROGATE
                || t == Character.PRIVATE_USE || t == Character.UNASSIGNED;
    }

    /** ASCII punctuation (which includes $, +, <, =, >, ^, `, |, ~) or a Unicode punctuation category. */
    static boolean isPunctuation(int c) {
        if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)) {
            return true;
        }
        int t = Character.getType(c);
        return t == Character.CONNECTOR_PUNCTUATION || t == Character.DASH_PUNCTUATION
                || t == Character.START_PUNCTUATION || t == Character.END_PUNCTUATION
                || t == Character.INITIAL_QUOTE_PUNCTUATION || t == Character.FINAL_QUOTE_PUNCTUATION
                || t == Character.OTHER_PUNCTUATION;
    }

    private static boolean isChinese(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    @Override
    public int vocabularySize() {
        return vocabulary.length;
    }

    @Override
    public String tokenText(int id) {
        return vocabulary[id];
    }
}

package io.offload4j.tokenizer;

import java.util.Arrays;

/**
 * The tokenizer of an encoder model (BERT's WordPiece, XLM-RoBERTa's Unigram): text to the ids the encoder reads,
 * with the special tokens its post-processor adds around one text ({@code [CLS] A [SEP]}, {@code <s> A </s>}) or a
 * pair of texts for a cross-encoder ({@code [CLS] A [SEP] B [SEP]} with token types 0 then 1, or RoBERTa's
 * {@code <s> A </s></s> B </s>}, all type 0). Immutable and thread-safe.
 */
public abstract class EncoderTokenizer {

    /** Ids and token types (segment ids) of one encoded input. */
    public record Encoding(int[] ids, int[] typeIds) {
        public int length() {
            return ids.length;
        }
    }

    /** How special tokens frame one text or a pair. */
    public enum PairStyle {
        /** {@code [CLS] A [SEP]} / {@code [CLS] A [SEP] B [SEP]}, B's tokens (and its SEP) of type 1. */
        BERT,
        /** {@code <s> A </s>} / {@code <s> A </s> </s> B </s>}, every token of type 0. */
        ROBERTA
    }

    private final int clsId;
    private final int sepId;
    private final PairStyle style;

    protected EncoderTokenizer(int clsId, int sepId, PairStyle style) {
        this.clsId = clsId;
        this.sepId = sepId;
        this.style = style;
    }

    /** The text's tokens, without any special token. */
    public abstract int[] tokens(String text);

    public abstract int vocabularySize();

    /** The piece of token {@code id} as the vocabulary writes it (for messages and tests). */
    public abstract String tokenText(int id);

    /** The special tokens added around one text (2) and around a pair (3 or 4). */
    int specialsFor(boolean pair) {
        return !pair ? 2 : style == PairStyle.BERT ? 3 : 4;
    }

    /** One text framed by its special tokens; the text's tokens cut so that the whole is at most {@code maxTokens}. */
    public Encoding encode(String text, int maxTokens) {
        checkRoom(maxTokens, false);
        int[] t = tokens(text);
        int n = Math.min(t.length, maxTokens - 2);
        int[] ids = new int[n + 2];
        ids[0] = clsId;
        System.arraycopy(t, 0, ids, 1, n);
        ids[n + 1] = sepId;
        return new Encoding(ids, new int[ids.length]);
    }

    /**
     * A pair (query, document) for a cross-encoder. Too long a pair is cut as Hugging Face's {@code longest_first}
     * truncation cuts it: one token at a time from the end of whichever text is longer (the second on a tie).
     */
    public Encoding encodePair(String first, String second, int maxTokens) {
        checkRoom(maxTokens, true);
        int[] a = tokens(first);
        int[] b = tokens(second);
        int room = maxTokens - specialsFor(true);
        int na = a.length;
        int nb = b.length;
        while (na + nb > room) {
            if (na > nb) {
                na--;
            } else {
                nb--;
            }
        }
        int total = na + nb + specialsFor(true);
        int[] ids = new int[total];
        int[] types = new int[total];
        int i = 0;
        ids[i++] = clsId;
        System.arraycopy(a, 0, ids, i, na);
        i += na;
        ids[i++] = sepId;
        int secondFrom = i;
        if (style == PairStyle.ROBERTA) {
            ids[i++] = sepId;
            secondFrom = i;
        }
        System.arraycopy(b, 0, ids, i, nb);
        i += nb;
        ids[i++] = sepId;
        if (style == PairStyle.BERT) {
            Arrays.fill(types, secondFrom, total, 1);
        }
        return new Encoding(ids, types);
    }

    private void checkRoom(int maxTokens, boolean pair) {
        if (maxTokens < specialsFor(pair) + (pair ? 2 : 1)) {
            throw new IllegalArgumentException("maxTokens " + maxTokens + " leaves no room for text between the "
                    + specialsFor(pair) + " special tokens");
        }
    }

    public int clsId() {
        return clsId;
    }

    public int sepId() {
        return sepId;
    }

    public PairStyle style() {
        return style;
    }
}

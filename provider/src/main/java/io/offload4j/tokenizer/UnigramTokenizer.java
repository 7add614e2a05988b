package io.offload4j.tokenizer;

import java.util.HashMap;
import java.util.Map;
import java.util.function.UnaryOperator;

/**
 * A SentencePiece Unigram tokenizer (XLM-RoBERTa, bge-reranker, multilingual-e5) as Hugging Face's {@code Unigram}
 * model computes it: the text normalised ({@code normalizer}), spaces made {@code ▁} with one in front
 * ({@code Metaspace}) and split before each {@code ▁}, then each piece cut into the sequence of vocabulary pieces
 * with the highest total log-probability (Viterbi over every vocabulary piece that starts at each character). A
 * character no piece covers becomes the unknown token, scored {@link #UNK_PENALTY} below the lowest piece, and runs
 * of unknown characters are fused into one.
 */
public final class UnigramTokenizer extends EncoderTokenizer {

    /** SentencePiece's {@code kUnkPenalty}: how far below the least likely piece an unknown character scores. */
    static final double UNK_PENALTY = 10.0;
    static final char SPACE = '\u2581';

    private final String[] pieces;
    private final double[] scores;
    private final Map<String, Integer> ids;
    private final int unkId;
    private final double unkScore;
    private final int maxPieceChars;
    private final UnaryOperator<String> normalizer;
    private final boolean prependSpace;

    /**
     * @param normalizer   the text normalisation before the space handling (NFKC and the like)
     * @param prependSpace whether a {@code ▁} goes in front of the text (Metaspace's {@code prepend_scheme})
     */
    public UnigramTokenizer(String[] pieces, double[] scores, int unkId, UnaryOperator<String> normalizer,
                            boolean prependSpace, int clsId, int sepId, PairStyle style) {
        super(clsId, sepId, style);
        if (pieces.length != scores.length) {
            throw new IllegalArgumentException(pieces.length + " pieces but " + scores.length + " scores");
        }
        this.pieces = pieces.clone();
        this.scores = scores.clone();
        this.ids = new HashMap<>(pieces.length * 2);
        double min = Double.POSITIVE_INFINITY;
        int longest = 1;
        for (int i = 0; i < pieces.length; i++) {
            ids.putIfAbsent(pieces[i], i);
            min = Math.min(min, scores[i]);
            longest = Math.max(longest, pieces[i].length());
        }
        this.unkId = unkId;
        this.unkScore = min - UNK_PENALTY;
        this.maxPieceChars = longest;
        this.normalizer = normalizer;
        this.prependSpace = prependSpace;
    }

    @Override
    public int[] tokens(String text) {
        String s = normalizer.apply(text).replace(' ', SPACE);
        if (s.isEmpty()) {
            return new int[0];
        }
        if (prependSpace && s.charAt(0) != SPACE) {
            s = SPACE + s;
        }
        IntList out = new IntList();
        int start = 0;
        for (int i = 1; i <= s.length(); i++) {
            if (i == s.length() || s.charAt(i) == SPACE) {
                viterbi(s.substring(start, i), out);
                start = i;
            }
        }
        return out.toArray();
    }

    /** The most likely segmentation of {@code word}: best[i] is the best score of its first i chars. */
    private void viterbi(String word, IntList out) {
        int n = word.length();
        double[] best = new double[n + 1];
        int[] from = new int[n + 1];
        int[] piece = new int[n + 1];
        java.util.Arrays.fill(best, Double.NEGATIVE_INFINITY);
        best[0] = 0;
        for (int i = 0; i < n; i++) {
            if (best[i] == Double.NEGATIVE_INFINITY) {
                continue;
            }
            boolean singleChar = false;
            int charEnd = i + Character.charCount(word.codePointAt(i));
            for (int end = i + 1; end <= Math.min(n, i + maxPieceChars); end++) {
                Integer id = ids.get(word.substring(i, end));
                if (id == null) {
                    continue;
                }
                singleChar |= end == charEnd;
                double score = best[i] + scores[id];
                if (score > best[end]) {
                    best[end] = score;
                    from[end] = i;
                    piece[end] = id;
                }
            }
            if (!singleChar) {
                double score = best[i] + unkScore;
                if (score > best[charEnd]) {
                    best[charEnd] = score;
                    from[charEnd] = i;
                    piece[charEnd] = unkId;
                }
            }
        }
        IntList reversed = new IntList();
        for (int end = n; end > 0; end = from[end]) {
            reversed.add(piece[end]);
        }
        boolean lastUnk = false;
        for (int i = reversed.size() - 1; i >= 0; i--) {
            int id = reversed.get(i);
            if (id == unkId && lastUnk) {
                continue; // fuse_unk
            }
            lastUnk = id == unkId;
            out.add(id);
        }
    }

    @Override
    public int vocabularySize() {
        return pieces.length;
    }

    @Override
    public String tokenText(int id) {
        return pieces[id];
    }
}

package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;

/** WordPiece and Unigram on small hand-made vocabularies, and the framing of single texts and pairs. */
class EncoderTokenizerTest {

    // 0 [PAD] 1 [UNK] 2 [CLS] 3 [SEP] 4 hello 5 world 6 , 7 ! 8 un 9 ##aff 10 ##able 11 cafe 12 中 13 a
    private static final String[] VOCAB = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "world", ",", "!", "un",
        "##aff", "##able", "cafe", "中", "a"};

    private static WordPieceTokenizer wordPiece(WordPieceTokenizer.Normalization n) {
        return new WordPieceTokenizer(VOCAB, 1, "##", 10, n, 2, 3);
    }

    @Test
    void wordPieceSplitsPunctuationAndCutsWordsLongestFirst() {
        WordPieceTokenizer t = wordPiece(WordPieceTokenizer.Normalization.UNCASED);
        assertArrayEquals(new int[] {4, 6, 5, 7}, t.tokens("Hello,  WORLD!"));
        assertArrayEquals(new int[] {8, 9, 10}, t.tokens("unaffable"));
        assertArrayEquals(new int[] {1}, t.tokens("unaffablex"), "a word with an uncuttable rest is [UNK] whole");
        assertArrayEquals(new int[] {1}, t.tokens("aaaaaaaaaaa"), "longer than max_input_chars_per_word");
        assertArrayEquals(new int[] {11}, t.tokens("Café"), "accents stripped when uncased");
        assertArrayEquals(new int[] {13, 12, 13}, t.tokens("a中a"), "CJK ideographs are words of their own");
        assertArrayEquals(new int[] {4, 5}, t.tokens("hello\u0000\t world\u200b"), "control characters dropped");
    }

    @Test
    void casedWordPieceKeepsCaseAndAccents() {
        WordPieceTokenizer t = wordPiece(new WordPieceTokenizer.Normalization(true, true, false, false));
        assertArrayEquals(new int[] {1, 5}, t.tokens("Hello world"));
        assertArrayEquals(new int[] {1}, t.tokens("café"));
    }

    @Test
    void pairsAreFramedAndCutLongestFirst() {
        WordPieceTokenizer t = wordPiece(WordPieceTokenizer.Normalization.UNCASED);
        EncoderTokenizer.Encoding e = t.encodePair("hello world", "a a a a", 9);
        // room for 6 text tokens: (2, 4) → cut the longer: (2, 4) fits exactly
        assertArrayEquals(new int[] {2, 4, 5, 3, 13, 13, 13, 13, 3}, e.ids());
        assertArrayEquals(new int[] {0, 0, 0, 0, 1, 1, 1, 1, 1}, e.typeIds());
        EncoderTokenizer.Encoding cut = t.encodePair("hello world", "a a a a", 7);
        assertArrayEquals(new int[] {2, 4, 5, 3, 13, 13, 3}, cut.ids(), "4 text tokens: the second text loses 2");
        assertArrayEquals(new int[] {2, 4, 3}, t.encode("hello world", 3).ids());
    }

    @Test
    void unigramTakesTheMostLikelySegmentationAndFusesUnknowns() {
        // 0 <s> 1 <pad> 2 </s> 3 <unk> 4 ▁ 5 ▁he 6 llo 7 ▁hello 8 h 9 e 10 l 11 o
        String[] pieces = {"<s>", "<pad>", "</s>", "<unk>", "▁", "▁he", "llo", "▁hello", "h", "e", "l", "o"};
        double[] scores = {0, 0, 0, 0, -2, -3, -3, -5.5, -4, -4, -4, -4};
        UnigramTokenizer t = new UnigramTokenizer(pieces, scores, 3, UnaryOperator.identity(), true, 0, 2,
                EncoderTokenizer.PairStyle.ROBERTA);
        assertArrayEquals(new int[] {7}, t.tokens("hello"), "-5.5 beats ▁he + llo (-6)");
        assertArrayEquals(new int[] {7, 4, 3}, t.tokens("hello xyz"), "x, y, z unknown: one fused <unk>");
        EncoderTokenizer.Encoding pair = t.encodePair("hello", "hello", 16);
        assertArrayEquals(new int[] {0, 7, 2, 2, 7, 2}, pair.ids(), "<s> A </s></s> B </s>");
        assertArrayEquals(new int[6], pair.typeIds());
        assertEquals(12, t.vocabularySize());
    }
}

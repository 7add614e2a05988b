package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class PreTokenizerTest {

    private static List<String> split(String pre, String text) {
        return PreTokenizer.forName(pre).split(text);
    }

    @Test
    void llama3SplitsDigitsByThreeAndKeepsContractions() {
        assertEquals(List.of("123", "45"), split("llama-bpe", "12345"));
        assertEquals(List.of("I", "'VE", " been", " '", "told"), split("llama-bpe", "I'VE been 'told"));
        assertEquals(List.of("Hello", ",", " world", "!\n\n", "  ", " x"), split("llama-bpe", "Hello, world!\n\n   x"));
        // a single non-letter attaches to the following word; Unicode letters count as letters
        assertEquals(List.of("ñandú", "(x", ")"), split("llama-bpe", "ñandú(x)"));
        // Unicode whitespace (U+3000) is whitespace
        assertEquals(List.of("a", "\u3000", " b"), split("llama-bpe", "a\u3000 b"));
    }

    @Test
    void qwen2SplitsEveryDigit() {
        assertEquals(List.of("1", "2", "3", "4", "5"), split("qwen2", "12345"));
        assertEquals(List.of("abc", " ", "1", "2"), split("qwen2", "abc 12"));
    }

    @Test
    void gpt2KeepsLeadingSpaceOnWordsAndNumbers() {
        assertEquals(List.of("Hello", " world", " 12345", "!!"), split("gpt-2", "Hello world 12345!!"));
        assertEquals(List.of("a", " ", " b"), split("gpt-2", "a  b"));
        assertEquals(List.of("a", "\t", "b"), split("gpt-2", "a\tb")); // unmatched text is kept as a piece
        assertEquals(List.of("y", "'", "all", "'ll"), split("gpt-2", "y'all'll")); // only the listed contractions
    }

    @Test
    void smollmIsolatesDigitsFirst() {
        assertEquals(List.of("abc", " ", "1", "2", "3", "x"), split("smollm", "abc 123x"));
    }

    @Test
    void gpt4oSplitsCaseChangesAndAttachesContractions() {
        assertEquals(List.of("Hello", "World's", " x"), split("gpt-4o", "HelloWorld's x"));
        assertEquals(List.of("he", "'s"), split("llama-bpe", "he's"));
        assertEquals(List.of("he's"), split("gpt-4o", "he's"));
    }

    @Test
    void piecesConcatenateToTheText() {
        String s = "ied 4 ½ months 🚀 (normal) 😶‍🌫️ 3..3 ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? I've";
        for (String pre : PreTokenizer.supportedNames()) {
            assertEquals(s, String.join("", split(pre, s)), pre);
        }
    }

    @Test
    void unknownNameIsRejectedWithTheList() {
        var e = assertThrows(TokenizerException.class, () -> PreTokenizer.forName("nope"));
        assertTrue(e.getMessage().contains("supported:") && e.getMessage().contains("smollm"));
    }
}

package io.offload4j.tokenizer;

import java.util.ArrayList;
import java.util.List;

/** Small synthetic vocabularies for tests. */
final class ConvertedVocabularies {

    private ConvertedVocabularies() {}

    /** A byte-level vocabulary of the 256 byte characters plus the given control tokens, no merges. */
    static Tokenizer tiny(List<String> controls) {
        List<String> tokens = new ArrayList<>();
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.charOf(b)));
        }
        tokens.addAll(controls);
        int[] types = new int[tokens.size()];
        for (int i = 0; i < types.length; i++) {
            types[i] = i < 256 ? TokenType.NORMAL : TokenType.CONTROL;
        }
        return new ConvertedVocabulary("tiny", "gpt-2", tokens.toArray(new String[0]), types, new String[0],
                -1, -1, -1, false).tokenizer();
    }
}

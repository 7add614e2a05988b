package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgufFile;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SentencePieceTokenizerTest {

    @TempDir
    Path tmp;

    private static Tokenizer load(Path gguf) {
        try (GgufFile f = GgufFile.open(gguf)) {
            return Tokenizers.fromGguf(f.metadata());
        }
    }

    @Test
    void llamaSpmReferenceVectors() {
        Tokenizer t = load(SharedData.requireGunzipped("vocab/ggml-vocab-llama-spm.gguf.gz", tmp));
        assertTrue(t instanceof SentencePieceTokenizer);
        List<ReferenceVectors.Case> cases = ReferenceVectors.load("ggml-vocab-llama-bpe.gguf.inp", "ggml-vocab-llama-spm.gguf.out");
        assertEquals(46, ReferenceVectors.check(t, cases));
        for (ReferenceVectors.Case c : cases) {
            assertEquals(c.input(), t.decode(c.expected()), "decode of case #" + c.index());
        }
    }

    @Test
    void stories260KEncodesAndRoundTrips() {
        Tokenizer t = load(SharedData.require("models/stories260K.gguf"));
        assertEquals(512, t.vocabularySize());
        assertEquals(1, t.bosToken());
        assertEquals(2, t.eosToken());
        int[] ids = t.encode("Once upon a time", true, false);
        assertEquals(1, ids[0], "BOS first");
        StringBuilder pieces = new StringBuilder();
        for (int i = 1; i < ids.length; i++) {
            pieces.append(t.tokenText(ids[i]));
        }
        assertEquals("▁Once▁upon▁a▁time", pieces.toString());
        assertEquals("Once upon a time", t.decode(ids));
        String story = "Once upon a time, there was a little girl named Lily.";
        assertEquals(story, t.decode(t.encode(story, true, false)));
        assertTrue(t.isEndOfGeneration(2));
        assertTrue(t.isControl(1));
    }

    @Test
    void byteFallbackForCharactersWithoutToken() {
        Tokenizer t = load(SharedData.require("models/stories260K.gguf"));
        String s = "a€😀日";
        int[] ids = t.encode(s, false, false);
        // "€" has a token in this vocabulary; "😀" (4 bytes) and "日" (3 bytes) do not: 7 byte tokens
        int bytes = 0;
        for (int id : ids) {
            if (t.tokenText(id).startsWith("<0x")) bytes++;
        }
        assertEquals(7, bytes);
        assertEquals(s, t.decode(ids));
        assertEquals("€", t.tokenText(ids[1]));
        assertArrayEquals(new byte[] {(byte) 0xF0}, t.tokenBytes(ids[2]));
        assertEquals("<0xF0>", t.tokenText(ids[2]));
    }
}

package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgufFile;
import io.offload4j.testing.SharedData;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StreamingDetokenizerTest {

    private static Tokenizer stories() {
        try (GgufFile f = GgufFile.open(SharedData.require("models/stories260K.gguf"))) {
            return Tokenizers.fromGguf(f.metadata());
        }
    }

    @Test
    void holdsBackMultiByteCharactersSplitAcrossByteFallbackTokens() {
        Tokenizer t = stories();
        String s = "Lily saw 日本 and 😀!";
        int[] ids = t.encode(s, true, false);
        StreamingDetokenizer d = new StreamingDetokenizer(t, true);
        List<String> outputs = new ArrayList<>();
        int heldBack = 0;
        for (int id : ids) {
            String out = d.feed(id);
            outputs.add(out);
            assertFalse(out.contains("\uFFFD"), "partial character emitted after token " + t.tokenText(id));
            if (out.isEmpty() && t.tokenText(id).startsWith("<0x")) {
                heldBack++;
            }
        }
        assertTrue(heldBack >= 2 + 2 + 3, "byte-fallback bytes were held back: " + heldBack);
        assertEquals("", d.flush());
        assertEquals(s, String.join("", outputs));
        assertEquals(t.decode(ids), String.join("", outputs));
    }

    @Test
    void byteTokensOneAtATime() {
        Tokenizer t = stories();
        int[] ids = t.encode("😀", false, false); // ▁ then F0 9F 98 80 as byte tokens
        StreamingDetokenizer d = new StreamingDetokenizer(t);
        StringBuilder all = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            String out = d.feed(ids[i]);
            all.append(out);
            if (i < ids.length - 1 && t.tokenText(ids[i]).startsWith("<0x")) {
                assertEquals("", out, "nothing before the 4th byte");
                assertTrue(d.pendingBytes() > 0);
            }
        }
        assertEquals(" 😀", all.toString()); // no stripping by default: a continuation keeps its space
        assertEquals(0, d.pendingBytes());
    }

    @Test
    void controlTokensProduceNothingAndInvalidBytesAreFlushed() {
        Tokenizer t = stories();
        StreamingDetokenizer d = new StreamingDetokenizer(t);
        assertEquals("", d.feed(t.bosToken()));
        assertEquals("", d.feed(t.eosToken()));
        int e6 = ((AbstractTokenizer) t).tokenId("<0xE6>");
        assertEquals("", d.feed(e6));
        assertEquals("\uFFFD", d.flush());
        // a lone continuation byte can never complete: it is not held back
        int b80 = ((AbstractTokenizer) t).tokenId("<0x80>");
        assertEquals("\uFFFD", d.feed(b80));
    }

    @Test
    void byteLevelPiecesSplittingACharacter() {
        Tokenizer t = TestVocabularies.llama3();
        // rare CJK/emoji characters are split into byte-level pieces by Llama 3
        String s = "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 龘靐 🦙🐪";
        int[] ids = t.encode(s, false, false);
        StreamingDetokenizer d = new StreamingDetokenizer(t);
        StringBuilder all = new StringBuilder();
        int empty = 0;
        for (int id : ids) {
            String out = d.feed(id);
            assertFalse(out.contains("\uFFFD"));
            if (out.isEmpty()) empty++;
            all.append(out);
        }
        assertTrue(empty > 0, "some character spans several tokens");
        assertEquals(s, all.toString());
    }

    @Test
    void completePrefixRules() {
        assertEquals(0, StreamingDetokenizer.completePrefix(new byte[] {(byte) 0xE6}, 1));
        assertEquals(0, StreamingDetokenizer.completePrefix(new byte[] {(byte) 0xE6, (byte) 0x97}, 2));
        assertEquals(3, StreamingDetokenizer.completePrefix(new byte[] {(byte) 0xE6, (byte) 0x97, (byte) 0xA5}, 3));
        assertEquals(1, StreamingDetokenizer.completePrefix(new byte[] {'a', (byte) 0xF0, (byte) 0x9F, (byte) 0x98}, 4));
        assertEquals(2, StreamingDetokenizer.completePrefix(new byte[] {'a', (byte) 0xFF}, 2));
        assertEquals(2, StreamingDetokenizer.completePrefix(new byte[] {'a', 'b'}, 2));
    }
}

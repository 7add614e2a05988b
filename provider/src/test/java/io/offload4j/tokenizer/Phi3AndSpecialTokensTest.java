package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgufArray;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Phi3AndSpecialTokensTest {

    @TempDir
    Path tmp;

    @Test
    void phi3LoadsAndRoundTrips() {
        Tokenizer t = TestVocabularies.gguf("ggml-vocab-phi-3.gguf.gz", tmp);
        assertTrue(t instanceof SentencePieceTokenizer);
        assertEquals(32064, t.vocabularySize());
        assertEquals(1, t.bosToken());
        assertEquals(32000, t.eosToken());
        List<String> inputs = ReferenceVectors.inputs(io.offload4j.testing.SharedData.require("vocab/ggml-vocab-llama-bpe.gguf.inp"));
        assertEquals(46, inputs.size());
        for (String s : inputs) {
            int[] ids = t.encode(s, true, false);
            assertEquals(1, ids[0]);
            assertEquals(s, t.decode(ids), "round trip of " + ReferenceVectors.escape(s));
        }
        // end of generation: EOS <|endoftext|> and <|end|>; not <|user|>
        assertTrue(t.isEndOfGeneration(32000));
        assertTrue(t.isEndOfGeneration(32007));
        assertFalse(t.isEndOfGeneration(32010));
    }

    /**
     * llama.cpp's tokenizer test vectors: its answer key for the Phi-3 vocabulary ({@code ggml-vocab-phi-3.gguf.out})
     * is byte for byte its key for Llama 2's ({@code ggml-vocab-llama-spm.gguf.out}) — Phi-3 is Llama 2's
     * SentencePiece model plus added tokens — so the Phi-3 vocabulary must reproduce the llama-spm key of
     * {@code ../shared} on its inputs, every one of them.
     */
    @Test
    void phi3PassesLlamaCppsTokenizerTestVectors() {
        Tokenizer t = TestVocabularies.gguf("ggml-vocab-phi-3.gguf.gz", tmp);
        List<ReferenceVectors.Case> cases = ReferenceVectors.load("ggml-vocab-llama-bpe.gguf.inp",
                "ggml-vocab-llama-spm.gguf.out");
        assertEquals(cases.size(), ReferenceVectors.check(t, cases));
    }

    @Test
    void phi3SpecialTokensInTemplatesSwallowFollowingWhitespace() {
        Tokenizer t = TestVocabularies.gguf("ggml-vocab-phi-3.gguf.gz", tmp);
        int[] ids = t.encode("<|user|>\nHello<|end|>\n<|assistant|>\n", true, true);
        int[] hello = t.encode("Hello", false, false); // "▁Hello": a space prefix follows a special token
        int[] expected = new int[hello.length + 4];
        expected[0] = 1;
        expected[1] = 32010;
        System.arraycopy(hello, 0, expected, 2, hello.length);
        expected[hello.length + 2] = 32007;
        expected[hello.length + 3] = 32001;
        assertArrayEquals(expected, ids);
        // control tokens decode to nothing
        assertEquals("Hello", t.decode(ids));
    }

    @Test
    void specialTokensOnlyWhenAsked() {
        Tokenizer t = TestVocabularies.llama3();
        String s = "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>";
        int[] special = t.encode(s, false, true);
        assertEquals(128006, special[0]);
        assertEquals(128007, special[2]);
        assertEquals(128009, special[special.length - 1]);
        int[] plain = t.encode(s, false, false);
        for (int id : plain) {
            assertTrue(id < 128000, "plain text produced special token " + id);
        }
        assertEquals(s, t.decode(plain));
        // decode drops control tokens
        assertEquals("user\n\nhi", t.decode(special));
    }

    @Test
    void longestSpecialTokenWins() {
        // a vocabulary where "<a>" and "<a><b>" are both control tokens
        Tokenizer t = ConvertedVocabularies.tiny(List.of("<a>", "<a><b>"));
        int[] ids = t.encode("x<a><b>y<a>", false, true);
        AbstractTokenizer a = (AbstractTokenizer) t;
        assertArrayEquals(new int[] {a.tokenId("x"), a.tokenId("<a><b>"), a.tokenId("y"), a.tokenId("<a>")}, ids);
    }

    @Test
    void endOfGenerationByName() {
        Tokenizer t = ConvertedVocabularies.tiny(List.of("<|im_end|>", "<end_of_turn>", "<|im_start|>"));
        AbstractTokenizer a = (AbstractTokenizer) t;
        assertTrue(t.isEndOfGeneration(a.tokenId("<|im_end|>")));
        assertTrue(t.isEndOfGeneration(a.tokenId("<end_of_turn>")));
        assertFalse(t.isEndOfGeneration(a.tokenId("<|im_start|>")));
        assertEquals(a.tokenId("<|im_end|>"), a.eotToken());
    }

    // --- errors -------------------------------------------------------------------------------

    private static GgufMetadata md(Object... kv) {
        Map<String, GgufMetadata.Entry> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            Object v = kv[i + 1];
            GgufMetadata.Entry e;
            if (v instanceof String s) e = new GgufMetadata.Entry(GgufValueType.STRING, s);
            else if (v instanceof String[] a) e = new GgufMetadata.Entry(GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, a));
            else if (v instanceof int[] a) e = new GgufMetadata.Entry(GgufValueType.ARRAY, new GgufArray(GgufValueType.INT32, a));
            else if (v instanceof float[] a) e = new GgufMetadata.Entry(GgufValueType.ARRAY, new GgufArray(GgufValueType.FLOAT32, a));
            else if (v instanceof Integer n) e = new GgufMetadata.Entry(GgufValueType.UINT32, (long) n);
            else throw new IllegalArgumentException();
            m.put((String) kv[i], e);
        }
        return new GgufMetadata(Path.of("test.gguf"), m);
    }

    @Test
    void unknownModelListsSupported() {
        var e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md("tokenizer.ggml.model", "t5")));
        assertTrue(e.getMessage().contains("'t5'") && e.getMessage().contains("llama") && e.getMessage().contains("gpt2"), e.getMessage());
    }

    @Test
    void unknownPreTokenizerListsSupported() {
        var e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md(
                "tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "klingon",
                "tokenizer.ggml.tokens", new String[] {"a"}, "tokenizer.ggml.merges", new String[0])));
        assertTrue(e.getMessage().contains("'klingon'") && e.getMessage().contains("llama-bpe")
                && e.getMessage().contains("qwen2") && e.getMessage().contains("tokenizer.ggml.pre"), e.getMessage());
    }

    @Test
    void malformedVocabulariesNameTheKey() {
        var e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md("tokenizer.ggml.model", "llama")));
        assertTrue(e.getMessage().contains("tokenizer.ggml.tokens"), e.getMessage());
        e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md("tokenizer.ggml.model", "llama",
                "tokenizer.ggml.tokens", new String[] {"<unk>", "<s>", "</s>"}, "tokenizer.ggml.scores", new float[2])));
        assertTrue(e.getMessage().contains("tokenizer.ggml.scores"), e.getMessage());
        e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md("tokenizer.ggml.model", "llama",
                "tokenizer.ggml.tokens", new String[] {"<unk>", "<s>", "</s>"}, "tokenizer.ggml.token_type", new int[4])));
        assertTrue(e.getMessage().contains("tokenizer.ggml.token_type"), e.getMessage());
        e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md("tokenizer.ggml.model", "gpt2",
                "tokenizer.ggml.tokens", new String[] {"a", "b"})));
        assertTrue(e.getMessage().contains("tokenizer.ggml.merges"), e.getMessage());
        e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md("tokenizer.ggml.model", "gpt2",
                "tokenizer.ggml.tokens", new String[] {"a", "b"}, "tokenizer.ggml.merges", new String[] {"ab"})));
        assertTrue(e.getMessage().contains("tokenizer.ggml.merges") && e.getMessage().contains("'ab'"), e.getMessage());
        e = assertThrows(TokenizerException.class, () -> Tokenizers.fromGguf(md("tokenizer.ggml.model", "gpt2",
                "tokenizer.ggml.tokens", new String[] {"a", "b"}, "tokenizer.ggml.merges", new String[0],
                "tokenizer.ggml.eos_token_id", 7)));
        assertTrue(e.getMessage().contains("tokenizer.ggml.eos_token_id") && e.getMessage().contains("7"), e.getMessage());
    }
}

package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgufFile;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama3AndQwen2Test {

    @TempDir
    Path tmp;

    @Test
    void llama3ReferenceVectors() {
        Tokenizer t = TestVocabularies.llama3();
        assertEquals(128256, t.vocabularySize());
        List<ReferenceVectors.Case> cases = ReferenceVectors.load("ggml-vocab-llama-bpe.gguf.inp", "ggml-vocab-llama-bpe.gguf.out");
        assertEquals(46, ReferenceVectors.check(t, cases));
        for (ReferenceVectors.Case c : cases) {
            assertEquals(c.input(), t.decode(c.expected()), "decode of case #" + c.index());
        }
    }

    @Test
    void llama3SpecialTokenIds() {
        Tokenizer t = TestVocabularies.llama3();
        AbstractTokenizer a = (AbstractTokenizer) t;
        assertEquals(128000, t.bosToken());
        assertEquals(128001, t.eosToken());
        assertEquals(128006, a.tokenId("<|start_header_id|>"));
        assertEquals(128007, a.tokenId("<|end_header_id|>"));
        assertEquals(128008, a.tokenId("<|eom_id|>"));
        assertEquals(128009, a.tokenId("<|eot_id|>"));
        assertEquals(128010, a.tokenId("<|python_tag|>"));
        assertEquals(128004, a.tokenId("<|finetune_right_pad_id|>"));
        assertEquals(128255, a.tokenId("<|reserved_special_token_246|>"));
        assertEquals(128005, a.tokenId("<|step_id|>"));
        assertEquals(128011, a.tokenId("<|reserved_special_token_2|>"));
        assertEquals(128009, a.eotToken());
        for (int id : new int[] {128001, 128008, 128009}) {
            assertTrue(t.isEndOfGeneration(id), "EOG " + id);
        }
        assertTrue(!t.isEndOfGeneration(128000) && !t.isEndOfGeneration(128006));
        // add_bos for llama-bpe
        assertEquals(128000, t.encode("Hi", true, false)[0]);
    }

    @Test
    void llama3ConverterWritesAGgufThatLoadsTheSame() {
        ConvertedVocabulary v = TestVocabularies.llama3Vocabulary();
        Path out = tmp.resolve("llama3-vocab.gguf");
        v.writeGguf(out);
        Tokenizer fromFile;
        try (GgufFile f = GgufFile.open(out)) {
            assertEquals("llama-bpe", f.metadata().getString("tokenizer.ggml.pre"));
            fromFile = Tokenizers.fromGguf(f.metadata());
        }
        String s = "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～ <|eot_id|>";
        assertArrayEquals(TestVocabularies.llama3().encode(s, true, true), fromFile.encode(s, true, true));
    }

    @Test
    void qwen2ReferenceVectors() {
        Tokenizer t = TestVocabularies.qwen2();
        List<ReferenceVectors.Case> cases = ReferenceVectors.load("ggml-vocab-llama-bpe.gguf.inp", "ggml-vocab-qwen2.gguf.out");
        assertEquals(46, ReferenceVectors.check(t, cases));
        for (ReferenceVectors.Case c : cases) {
            assertEquals(c.input(), t.decode(c.expected()), "decode of case #" + c.index());
        }
    }

    @Test
    void qwen2SpecialTokens() {
        Tokenizer t = TestVocabularies.qwen2();
        assertEquals(-1, t.bosToken());
        assertEquals(151643, t.eosToken());
        assertTrue(t.isEndOfGeneration(151643));
        assertTrue(t.isEndOfGeneration(151645));
        assertTrue(!t.isEndOfGeneration(151644));
        assertArrayEquals(t.encode("hi", false, false), t.encode("hi", true, false), "Qwen adds no BOS");
        int[] chat = t.encode("<|im_start|>user\nhi<|im_end|>", false, true);
        assertEquals(151644, chat[0]);
        assertEquals(151645, chat[chat.length - 1]);
        int[] plain = t.encode("<|im_start|>user", false, false);
        for (int id : plain) {
            assertTrue(id < 151643, "user text must not produce special tokens: " + id);
        }
        assertEquals("<|im_start|>user", t.decode(plain));
    }
}

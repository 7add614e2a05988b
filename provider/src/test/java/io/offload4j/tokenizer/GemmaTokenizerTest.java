package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Gemma's vocabulary (transformers' hf-gemma2 fixture: Gemma's layout, SentencePiece-style BPE with byte fallback, no
 * space prepended) both as the Hugging Face tokenizer.json and as the GGUF keys a llama.cpp conversion holds
 * ({@code tokenizer.ggml.model = llama}, scores, byte tokens, {@code add_space_prefix = false}): the same ids as
 * transformers' tokenizer, text and bytes back.
 */
class GemmaTokenizerTest {

    private static final String TEXT = "Once upon a time, there was a little girl named Lily.";
    private static final String UNICODE = "Über den Wolken: 1234567 日本語のテキスト!";

    @TempDir
    Path tmp;

    @Test
    void ggufAndTokenizerJsonEncodeAsTransformers() throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/hf-gemma2/config.json").toURI()).getParent();
        JsonNode text = new ObjectMapper().readTree(dir.resolve("ref-text.json").toFile());
        JsonNode unicode = new ObjectMapper().readTree(dir.resolve("ref-unicode.json").toFile());
        GgufMetadata md = HuggingFaceTokenizerFiles.load(dir, 384);
        assertEquals("llama", md.getString("tokenizer.ggml.model"), "Gemma's vocabulary is SentencePiece-style");
        assertFalse(md.getBoolean(Vocabulary.KEY_ADD_SPACE_PREFIX, true), "Gemma prepends no space");
        Path gguf = tmp.resolve("gemma-vocab.gguf");
        new GgufWriter().putAll(md).write(gguf);
        try (GgufFile file = GgufFile.open(gguf)) {
            for (Tokenizer t : new Tokenizer[] {Tokenizers.fromGguf(md), Tokenizers.fromGguf(file.metadata())}) {
                assertEquals("<0x41>", t.tokenText(6 + 0x41), "byte tokens from 6 on");
                assertArrayEquals(ints(text.get("ids")), t.encode(TEXT, true, false));
                int[] ids = ints(unicode.get("ids"));
                assertArrayEquals(ids, t.encode(UNICODE, false, false));
                assertEquals(UNICODE, t.decode(ids));
                assertEquals(5, t.tokenId("<end_of_turn>"));
                assertArrayEquals(new int[] {2, 4}, t.encode("<start_of_turn>", true, true), "special tokens parsed");
            }
        }
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }
}

package io.offload4j.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.testing.SharedData;
import io.offload4j.tokenizer.TokenizerJsonWriter.Added;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * tokenizer.json files laid out as transformers writes them for Llama 2, Llama 3, Qwen2 and GPT-2, built from the
 * real vocabularies in ../shared/vocab, tokenize llama.cpp's reference vectors exactly; the smaller cases check
 * special tokens, padding, templates and every error message.
 */
class HuggingFaceTokenizerFilesTest {

    @TempDir
    Path tmp;

    // ---- real vocabularies against llama.cpp's reference vectors ----

    @Test
    void sentencePieceStyleLlama2() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("llama2"));
        GgufMetadata md;
        try (GgufFile f = GgufFile.open(SharedData.requireGunzipped("vocab/ggml-vocab-llama-spm.gguf.gz", tmp))) {
            md = f.metadata();
        }
        String[] tokens = md.getStringArray("tokenizer.ggml.tokens");
        TokenizerJsonWriter.write(TokenizerJsonWriter.sentencePiece(tokens, md.getFloatArray("tokenizer.ggml.scores"),
                md.getIntArray("tokenizer.ggml.token_type"), 0, 1), dir.resolve("tokenizer.json"));
        json(dir.resolve("tokenizer_config.json"), Map.of("add_bos_token", true, "add_eos_token", false,
                "bos_token", "<s>", "eos_token", "</s>", "unk_token", "<unk>"));
        Tokenizer t = Tokenizers.fromGguf(HuggingFaceTokenizerFiles.load(dir, tokens.length));
        assertTrue(t instanceof SentencePieceTokenizer);
        assertEquals(46, ReferenceVectors.check(t,
                ReferenceVectors.load("ggml-vocab-llama-bpe.gguf.inp", "ggml-vocab-llama-spm.gguf.out")));
        assertEquals(1, t.bosToken());
        assertEquals(2, t.eosToken());
        assertEquals(1, t.encode("Hello", true, false)[0]);
        assertEquals(TokenType.BYTE, ((AbstractTokenizer) t).tokenType(3 + 0x0A));
        Tokenizer fromGguf = Tokenizers.fromGguf(md);
        String s = "Hello world, this is a tést of 日本語 and emoji 🦙 \n\n  spaces";
        assertArrayEquals(fromGguf.encode(s, true, false), t.encode(s, true, false));
    }

    @Test
    void byteLevelQwen2WithPaddedEmbedding() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("qwen2"));
        Map<String, Integer> vocab = readJsonGz(SharedData.require("vocab/qwen2-vocab.json.gz"));
        List<String> merges = HuggingFaceBpeConverter.readMerges(SharedData.require("vocab/qwen2-merges.txt.gz"));
        List<Added> added = HuggingFaceBpeConverter.QWEN2_ADDED_TOKENS.stream()
                .map(a -> new Added(a.id(), a.text(), a.special())).toList();
        TokenizerJsonWriter.write(TokenizerJsonWriter.byteLevel(vocab, merges, added,
                TokenizerJsonWriter.splitThenByteLevel(TokenizerJsonWriter.QWEN2_REGEX), null, false),
                dir.resolve("tokenizer.json"));
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("bos_token", null);
        config.put("eos_token", "<|im_end|>");
        config.put("pad_token", "<|endoftext|>");
        config.put("chat_template", "not used: chat_template.jinja wins");
        json(dir.resolve("tokenizer_config.json"), config);
        json(dir.resolve("config.json"), Map.of("bos_token_id", 151643, "eos_token_id", 151645, "vocab_size", 151936));
        Files.writeString(dir.resolve("chat_template.jinja"), "{% for m in messages %}<|im_start|>{{ m.role }}\n"
                + "{{ m.content }}<|im_end|>\n{% endfor %}");

        GgufMetadata md = HuggingFaceTokenizerFiles.load(dir, 151936);
        Tokenizer t = Tokenizers.fromGguf(md);
        assertEquals(46, ReferenceVectors.check(t,
                ReferenceVectors.load("ggml-vocab-llama-bpe.gguf.inp", "ggml-vocab-qwen2.gguf.out")));
        assertEquals("qwen2", md.getString("tokenizer.ggml.pre"));
        assertEquals(151936, t.vocabularySize(), "padded to the embedding's rows");
        assertEquals("[PAD151935]", t.tokenText(151935));
        assertEquals(TokenType.UNUSED, ((AbstractTokenizer) t).tokenType(151700));
        assertEquals(151645, t.eosToken());
        assertEquals(151643, t.bosToken(), "config.json's bos_token_id, as llama.cpp's conversion has it");
        assertFalse(t.addsBos());
        assertEquals(TokenType.CONTROL, ((AbstractTokenizer) t).tokenType(151644));
        assertEquals(TokenType.USER_DEFINED, ((AbstractTokenizer) t).tokenType(151657));
        assertTrue(md.getString("tokenizer.chat_template").startsWith("{% for m in messages %}<|im_start|>"));
        int[] chat = t.encode("<|im_start|>user\nhi<|im_end|>", false, true);
        assertEquals(151644, chat[0]);
        assertEquals(151645, chat[chat.length - 1]);
    }

    @Test
    void byteLevelLlama3AddsBosFromItsPostProcessor() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("llama3"));
        ConvertedVocabulary v = TestVocabularies.llama3Vocabulary();
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<Added> added = new ArrayList<>();
        for (int i = 0; i < v.tokens().length; i++) {
            if (v.types()[i] == TokenType.NORMAL) {
                vocab.put(v.tokens()[i], i);
            } else {
                added.add(new Added(i, v.tokens()[i], true));
            }
        }
        TokenizerJsonWriter.write(TokenizerJsonWriter.byteLevel(vocab, List.of(v.merges()), added,
                TokenizerJsonWriter.splitThenByteLevel(TokenizerJsonWriter.LLAMA3_REGEX), "<|begin_of_text|>", true),
                dir.resolve("tokenizer.json"));
        json(dir.resolve("tokenizer_config.json"), Map.of("bos_token", "<|begin_of_text|>", "eos_token", "<|eot_id|>",
                "chat_template", List.of(Map.of("name", "default", "template", "T1"), Map.of("name", "tool_use",
                        "template", "T2"))));
        GgufMetadata md = HuggingFaceTokenizerFiles.load(dir, 128256);
        Tokenizer t = Tokenizers.fromGguf(md);
        assertEquals("llama-bpe", md.getString("tokenizer.ggml.pre"));
        assertEquals(46, ReferenceVectors.check(t,
                ReferenceVectors.load("ggml-vocab-llama-bpe.gguf.inp", "ggml-vocab-llama-bpe.gguf.out")));
        assertTrue(t.addsBos(), "TemplateProcessing puts <|begin_of_text|> first");
        assertEquals(128000, t.encode("Hi", true, false)[0]);
        assertEquals(128009, t.eosToken());
        assertEquals("T1", md.getString("tokenizer.chat_template"));
        assertEquals("T2", md.getString("tokenizer.chat_template.tool_use"));
    }

    @Test
    void byteLevelGpt2() throws IOException {
        Path dir = Files.createDirectories(tmp.resolve("gpt2"));
        GgufMetadata md;
        try (GgufFile f = GgufFile.open(SharedData.requireGunzipped("vocab/ggml-vocab-gpt-2.gguf.gz", tmp))) {
            md = f.metadata();
        }
        String[] tokens = md.getStringArray("tokenizer.ggml.tokens");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        List<Added> added = new ArrayList<>();
        int[] types = md.getIntArray("tokenizer.ggml.token_type");
        for (int i = 0; i < tokens.length; i++) {
            if (types[i] == TokenType.NORMAL) {
                vocab.put(tokens[i], i);
            } else {
                added.add(new Added(i, tokens[i], true));
            }
        }
        TokenizerJsonWriter.write(TokenizerJsonWriter.byteLevel(vocab, List.of(md.getStringArray("tokenizer.ggml.merges")),
                added, TokenizerJsonWriter.gpt2PreTokenizer(), null, false), dir.resolve("tokenizer.json"));
        Tokenizer t = Tokenizers.fromGguf(HuggingFaceTokenizerFiles.load(dir, tokens.length));
        ReferenceVectors.check(t, ReferenceVectors.load("ggml-vocab-gpt-2.gguf.inp", "ggml-vocab-gpt-2.gguf.out"));
    }

    // ---- errors ----

    @Test
    void noTokenizerJson() {
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "has no tokenizer.json; a safetensors directory needs"
                + " config.json, *.safetensors and tokenizer.json");
    }

    @Test
    void notABpeModel() throws IOException {
        tokenizerJson(Map.of("model", Map.of("type", "Unigram", "vocab", List.of())));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: model type 'Unigram' is not supported;"
                + " supported: BPE");
    }

    @Test
    void vocabNotAnObject() throws IOException {
        tokenizerJson(Map.of("model", Map.of("type", "BPE", "vocab", List.of("a"))));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: model.vocab is [\"a\"]; expected an object");
    }

    @Test
    void neitherByteLevelNorSentencePiece() throws IOException {
        tokenizerJson(Map.of("model", Map.of("type", "BPE", "vocab", Map.of("a", 0), "merges", List.of())));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: is neither a byte-level BPE");
    }

    @Test
    void unknownSplitExpression() throws IOException {
        tokenizerJson(tinyByteLevel(TokenizerJsonWriter.splitThenByteLevel("\\p{L}+|\\s+")));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: pre_tokenizer: the Split expression"
                + " '\\p{L}+|\\s+' is not one this engine implements; supported: ByteLevel alone (GPT-2)");
    }

    @Test
    void unsupportedPreTokenizerArrangement() throws IOException {
        tokenizerJson(tinyByteLevel(Map.of("type", "Sequence", "pretokenizers", List.of(
                Map.of("type", "WhitespaceSplit"), Map.of("type", "ByteLevel", "use_regex", false)))));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: pre_tokenizer [WhitespaceSplit,"
                + " ByteLevel] is not supported");
    }

    @Test
    void byteLevelWithPrefixSpace() throws IOException {
        tokenizerJson(tinyByteLevel(Map.of("type", "ByteLevel", "add_prefix_space", true)));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "pre_tokenizer: ByteLevel with add_prefix_space true is"
                + " not supported");
    }

    @Test
    void unsupportedNormalizer() throws IOException {
        Map<String, Object> j = new LinkedHashMap<>(tinyByteLevel(TokenizerJsonWriter.gpt2PreTokenizer()));
        j.put("normalizer", Map.of("type", "Lowercase"));
        tokenizerJson(j);
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: normalizer 'Lowercase' is not supported"
                + " for a byte-level BPE (supported: none, NFC)");
    }

    @Test
    void idsBeyondTheEmbedding() throws IOException {
        tokenizerJson(tinyByteLevel(TokenizerJsonWriter.gpt2PreTokenizer()));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 200), "tokenizer.json: has token ids up to 259, but the model's"
                + " embedding has only 200 rows (config.json vocab_size); the tokenizer belongs to another model");
    }

    @Test
    void duplicateIds() throws IOException {
        Map<String, Object> j = new LinkedHashMap<>(tinyByteLevel(TokenizerJsonWriter.gpt2PreTokenizer()));
        Map<String, Object> model = new LinkedHashMap<>(castMap(j.get("model")));
        Map<String, Integer> vocab = new LinkedHashMap<>(castMap(model.get("vocab")));
        vocab.put("zz", 5);
        model.put("vocab", vocab);
        j.put("model", model);
        tokenizerJson(j);
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: model.vocab gives id 5 to both");
    }

    @Test
    void malformedMerge() throws IOException {
        Map<String, Object> j = new LinkedHashMap<>(tinyByteLevel(TokenizerJsonWriter.gpt2PreTokenizer()));
        Map<String, Object> model = new LinkedHashMap<>(castMap(j.get("model")));
        model.put("merges", List.of("ab"));
        j.put("model", model);
        tokenizerJson(j);
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer.json: model.merges[0] is \"ab\"; expected"
                + " \"left right\"");
    }

    @Test
    void specialTokenNotInTheVocabulary() throws IOException {
        tokenizerJson(tinyByteLevel(TokenizerJsonWriter.gpt2PreTokenizer()));
        json(tmp.resolve("tokenizer_config.json"), Map.of("eos_token", Map.of("content", "<|nope|>")));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "tokenizer_config.json: key 'eos_token' is '<|nope|>',"
                + " which is not a token of tokenizer.json");
    }

    @Test
    void configIdOutsideTheVocabulary() throws IOException {
        tokenizerJson(tinyByteLevel(TokenizerJsonWriter.gpt2PreTokenizer()));
        json(tmp.resolve("config.json"), Map.of("eos_token_id", List.of(5000, 3)));
        fails(() -> HuggingFaceTokenizerFiles.load(tmp, 300), "config.json: key 'eos_token_id' is 5000, outside the"
                + " vocabulary of 300 tokens");
    }

    @Test
    void tinyByteLevelWorks() throws IOException {
        tokenizerJson(tinyByteLevel(TokenizerJsonWriter.gpt2PreTokenizer()));
        json(tmp.resolve("config.json"), Map.of("eos_token_id", List.of(258, 3)));
        Tokenizer t = Tokenizers.fromGguf(HuggingFaceTokenizerFiles.load(tmp, 300));
        assertEquals(258, t.eosToken(), "the first of config.json's eos ids");
        assertEquals("hello", t.decode(t.encode("hello", false, false)));
        assertEquals(2, t.encode("hello", false, false).length, "merges he + llo... applied");
    }

    /** 256 byte tokens, "he", "ll", "llo", "<|end|>" (258 = special). */
    private static Map<String, Object> tinyByteLevel(Object preTokenizer) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int b = 0; b < 256; b++) {
            vocab.put(String.valueOf(ByteLevel.charOf(b)), b);
        }
        vocab.put("he", 256);
        vocab.put("ll", 257);
        vocab.put("llo", 259);
        return TokenizerJsonWriter.byteLevel(vocab, List.of("h e", "l l", "ll o"), List.of(new Added(258, "<|end|>", true)),
                preTokenizer, null, false);
    }

    @SuppressWarnings("unchecked")
    private static <K, V> Map<K, V> castMap(Object o) {
        return (Map<K, V>) o;
    }

    private void tokenizerJson(Object json) {
        TokenizerJsonWriter.write(json, tmp.resolve("tokenizer.json"));
    }

    private static void json(Path p, Object value) throws IOException {
        new ObjectMapper().writeValue(p.toFile(), value);
    }

    private static Map<String, Integer> readJsonGz(Path p) throws IOException {
        try (InputStream in = new GZIPInputStream(Files.newInputStream(p))) {
            return new ObjectMapper().readValue(in, new TypeReference<LinkedHashMap<String, Integer>>() {});
        }
    }

    private static void fails(org.junit.jupiter.api.function.Executable e, String expected) {
        ModelFormatException x = assertThrows(ModelFormatException.class, e);
        assertTrue(x.getMessage().contains(expected), "expected message containing\n  " + expected + "\nbut got\n  "
                + x.getMessage());
    }
}

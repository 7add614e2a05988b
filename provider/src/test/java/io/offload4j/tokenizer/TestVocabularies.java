package io.offload4j.tokenizer;

import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgufFile;
import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/** Loads (once per JVM) the reference vocabularies of ../shared/vocab; skips the calling test when absent. */
public final class TestVocabularies {

    private static ConvertedVocabulary llama3;
    private static ConvertedVocabulary qwen2;
    private static Tokenizer llama3Tokenizer;
    private static Tokenizer qwen2Tokenizer;

    private TestVocabularies() {}

    static synchronized ConvertedVocabulary llama3Vocabulary() {
        Path model = SharedData.require("vocab/llama3-tokenizer.model.gz");
        if (llama3 == null) {
            llama3 = Llama3VocabularyConverter.convert(model);
        }
        return llama3;
    }

    public static synchronized Tokenizer llama3() {
        if (llama3Tokenizer == null) {
            llama3Tokenizer = llama3Vocabulary().tokenizer();
        }
        return llama3Tokenizer;
    }

    static synchronized ConvertedVocabulary qwen2Vocabulary() {
        Path vocabFile = SharedData.require("vocab/qwen2-vocab.json.gz");
        Path mergesFile = SharedData.require("vocab/qwen2-merges.txt.gz");
        if (qwen2 == null) {
            Map<String, Integer> vocab;
            try (InputStream in = new GZIPInputStream(Files.newInputStream(vocabFile))) {
                vocab = new ObjectMapper().readValue(in, new TypeReference<LinkedHashMap<String, Integer>>() {});
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            List<String> merges = HuggingFaceBpeConverter.readMerges(mergesFile);
            qwen2 = HuggingFaceBpeConverter.qwen2(vocab, merges);
        }
        return qwen2;
    }

    public static synchronized Tokenizer qwen2() {
        if (qwen2Tokenizer == null) {
            qwen2Tokenizer = qwen2Vocabulary().tokenizer();
        }
        return qwen2Tokenizer;
    }

    public static Tokenizer gguf(String gzName, Path tmp) {
        try (GgufFile f = GgufFile.open(SharedData.requireGunzipped("vocab/" + gzName, tmp))) {
            return Tokenizers.fromGguf(f.metadata());
        }
    }
}

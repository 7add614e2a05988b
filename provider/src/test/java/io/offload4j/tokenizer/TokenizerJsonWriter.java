package io.offload4j.tokenizer;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes Hugging Face {@code tokenizer.json} files for tests, laid out as transformers and tokenizers write them
 * for real models: SentencePiece-style BPE as transformers' LlamaConverter makes it from a SentencePiece model
 * (merges extracted from the vocabulary and ordered by the merged piece's score), and byte-level BPE with the
 * pre-tokenizers of GPT-2, Llama 3 and Qwen2.
 */
public final class TokenizerJsonWriter {

    /** Llama 3's Split expression as its tokenizer.json spells it. */
    public static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
            + " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's: one digit per piece. */
    public static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
            + " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    public record Added(int id, String content, boolean special) {}

    private TokenizerJsonWriter() {}

    /**
     * A Llama 2-style tokenizer.json from a SentencePiece vocabulary: every split of a piece into two pieces is a
     * merge, merges ordered by the merged piece's score (highest first; within a piece by the ids of its parts).
     */
    public static Map<String, Object> sentencePiece(String[] tokens, float[] scores, int[] types, int unk, int bos) {
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int i = 0; i < tokens.length; i++) {
            vocab.put(tokens[i], i);
        }
        record Merge(String left, String right, float score) {}
        List<Merge> merges = new ArrayList<>();
        for (int id = 0; id < tokens.length; id++) {
            String piece = tokens[id];
            List<Merge> local = new ArrayList<>();
            int cps = piece.codePointCount(0, piece.length());
            for (int k = 1; k < cps; k++) {
                int at = piece.offsetByCodePoints(0, k);
                String l = piece.substring(0, at);
                String r = piece.substring(at);
                if (vocab.containsKey(l) && vocab.containsKey(r)) {
                    local.add(new Merge(l, r, scores[id]));
                }
            }
            local.sort(Comparator.comparingInt((Merge m) -> vocab.get(m.left)).thenComparingInt(m -> vocab.get(m.right)));
            merges.addAll(local);
        }
        List<Merge> ordered = new ArrayList<>(merges);
        ordered.sort(Comparator.comparingDouble((Merge m) -> -m.score)); // stable: ties keep vocabulary order
        List<List<String>> mergeList = ordered.stream().map(m -> List.of(m.left, m.right)).toList();

        List<Map<String, Object>> added = new ArrayList<>();
        for (int i = 0; i < tokens.length; i++) {
            if (types[i] == TokenType.CONTROL || types[i] == TokenType.UNKNOWN) {
                added.add(added(i, tokens[i], true));
            }
        }
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", unk >= 0 ? tokens[unk] : null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", true);
        model.put("byte_fallback", true);
        model.put("ignore_merges", false);
        model.put("vocab", vocab);
        model.put("merges", mergeList);

        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", added);
        root.put("normalizer", Map.of("type", "Sequence", "normalizers", List.of(
                Map.of("type", "Prepend", "prepend", "▁"),
                Map.of("type", "Replace", "pattern", Map.of("String", " "), "content", "▁"))));
        root.put("pre_tokenizer", null);
        root.put("post_processor", bos >= 0 ? template(tokens[bos], bos) : null);
        root.put("decoder", Map.of("type", "Sequence", "decoders", List.of(
                Map.of("type", "Replace", "pattern", Map.of("String", "▁"), "content", " "),
                Map.of("type", "ByteFallback"),
                Map.of("type", "Fuse"),
                Map.of("type", "Strip", "content", " ", "start", 1, "stop", 0))));
        root.put("model", model);
        return root;
    }

    /** A byte-level BPE tokenizer.json; {@code bos} (or null) is prepended by the post-processor. */
    public static Map<String, Object> byteLevel(Map<String, Integer> vocab, List<String> merges, List<Added> addedTokens,
                                                Object preTokenizer, String bos, boolean ignoreMerges) {
        Map<String, Object> model = new LinkedHashMap<>();
        model.put("type", "BPE");
        model.put("dropout", null);
        model.put("unk_token", null);
        model.put("continuing_subword_prefix", null);
        model.put("end_of_word_suffix", null);
        model.put("fuse_unk", false);
        model.put("byte_fallback", false);
        model.put("ignore_merges", ignoreMerges);
        model.put("vocab", vocab);
        model.put("merges", merges.stream().map(m -> List.of(m.substring(0, m.indexOf(' ')), m.substring(m.indexOf(' ') + 1)))
                .toList());
        Map<String, Object> root = new LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("truncation", null);
        root.put("padding", null);
        root.put("added_tokens", addedTokens.stream().map(a -> added(a.id(), a.content(), a.special())).toList());
        root.put("normalizer", null);
        root.put("pre_tokenizer", preTokenizer);
        Map<String, Object> byteLevelPost = Map.of("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", false,
                "use_regex", true);
        int bosId = bos == null ? -1 : addedTokens.stream().filter(a -> a.content().equals(bos)).findFirst()
                .map(Added::id).orElseThrow();
        root.put("post_processor", bos == null ? byteLevelPost : Map.of("type", "Sequence", "processors",
                List.of(byteLevelPost, template(bos, bosId))));
        root.put("decoder", Map.of("type", "ByteLevel", "add_prefix_space", true, "trim_offsets", true, "use_regex", true));
        root.put("model", model);
        return root;
    }

    /** Split(regex, Isolated) + ByteLevel without regex: Llama 3 and Qwen2. */
    public static Map<String, Object> splitThenByteLevel(String regex) {
        return Map.of("type", "Sequence", "pretokenizers", List.of(
                Map.of("type", "Split", "pattern", Map.of("Regex", regex), "behavior", "Isolated", "invert", false),
                Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", true, "use_regex", false)));
    }

    /** GPT-2: ByteLevel with its built-in expression. */
    public static Map<String, Object> gpt2PreTokenizer() {
        return Map.of("type", "ByteLevel", "add_prefix_space", false, "trim_offsets", true, "use_regex", true);
    }

    private static Map<String, Object> template(String bos, int bosId) {
        Map<String, Object> special = new HashMap<>();
        special.put(bos, Map.of("id", bos, "ids", List.of(bosId), "tokens", List.of(bos)));
        return Map.of("type", "TemplateProcessing",
                "single", List.of(Map.of("SpecialToken", Map.of("id", bos, "type_id", 0)),
                        Map.of("Sequence", Map.of("id", "A", "type_id", 0))),
                "pair", List.of(Map.of("SpecialToken", Map.of("id", bos, "type_id", 0)),
                        Map.of("Sequence", Map.of("id", "A", "type_id", 0)),
                        Map.of("SpecialToken", Map.of("id", bos, "type_id", 1)),
                        Map.of("Sequence", Map.of("id", "B", "type_id", 1))),
                "special_tokens", special);
    }

    private static Map<String, Object> added(int id, String content, boolean special) {
        Map<String, Object> a = new LinkedHashMap<>();
        a.put("id", id);
        a.put("content", content);
        a.put("single_word", false);
        a.put("lstrip", false);
        a.put("rstrip", false);
        a.put("normalized", !special);
        a.put("special", special);
        return a;
    }

    public static Path write(Object json, Path target) {
        try {
            new ObjectMapper().writeValue(target.toFile(), json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return target;
    }
}

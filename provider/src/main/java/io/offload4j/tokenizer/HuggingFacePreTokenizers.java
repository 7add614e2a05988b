package io.offload4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.gguf.ModelFormatException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Names the llama.cpp pre-tokenizer ({@code tokenizer.ggml.pre}) that splits text as a byte-level
 * {@code tokenizer.json}'s {@code pre_tokenizer} does. The Split regex is compared, after spelling out the
 * {@code (?i:'s|...)} contraction group the way {@link PreTokenizer} does, with the expressions the engine
 * implements; anything else is refused rather than tokenized differently from the model's training.
 */
final class HuggingFacePreTokenizers {

    /** tokenizer.json writes the contractions case-insensitively; PreTokenizer spells the cases out. */
    private static final String HF_CONTRACTIONS = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
    private static final String CONTRACTIONS = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])";

    private static final Map<String, String> BY_REGEX = Map.of(
            PreTokenizer.LLAMA3, "llama-bpe",
            PreTokenizer.QWEN2, "qwen2",
            PreTokenizer.GPT4O, "gpt-4o",
            PreTokenizer.TEKKEN, "tekken");

    static final String SUPPORTED = "ByteLevel alone (GPT-2), Split with the Llama 3, Qwen2, GPT-4o or Tekken"
            + " expression + ByteLevel, Digits + ByteLevel (SmolLM)";

    private HuggingFacePreTokenizers() {}

    /** The {@code tokenizer.ggml.pre} name for a byte-level pre_tokenizer node. */
    static String name(Path file, JsonNode preTokenizer) {
        List<JsonNode> steps = new ArrayList<>();
        flatten(preTokenizer, steps);
        if (steps.size() == 1 && type(steps.getFirst()).equals("ByteLevel")) {
            checkByteLevel(file, steps.getFirst(), true);
            return "gpt-2";
        }
        if (steps.size() == 2 && type(steps.get(1)).equals("ByteLevel")) {
            JsonNode first = steps.getFirst();
            switch (type(first)) {
                case "Split" -> {
                    checkByteLevel(file, steps.get(1), false);
                    String regex = regex(file, first);
                    String name = BY_REGEX.get(regex.replace(HF_CONTRACTIONS, CONTRACTIONS));
                    if (name == null) {
                        throw new ModelFormatException(file, "pre_tokenizer: the Split expression " + quote(regex)
                                + " is not one this engine implements; supported: " + SUPPORTED);
                    }
                    if (!first.path("behavior").asText("Isolated").equals("Isolated") || first.path("invert").asBoolean(false)) {
                        throw new ModelFormatException(file, "pre_tokenizer: Split with behavior '"
                                + first.path("behavior").asText() + "' and invert " + first.path("invert").asBoolean(false)
                                + " is not supported (expected Isolated, invert false)");
                    }
                    return name;
                }
                case "Digits" -> {
                    checkByteLevel(file, steps.get(1), true);
                    if (!first.path("individual_digits").asBoolean(false)) {
                        throw new ModelFormatException(file, "pre_tokenizer: Digits without individual_digits is not"
                                + " supported; supported: " + SUPPORTED);
                    }
                    return "smollm";
                }
                default -> { }
            }
        }
        throw new ModelFormatException(file, "pre_tokenizer " + summary(steps) + " is not supported; supported: "
                + SUPPORTED);
    }

    private static void checkByteLevel(Path file, JsonNode byteLevel, boolean expectRegex) {
        if (byteLevel.path("add_prefix_space").asBoolean(false)) {
            throw new ModelFormatException(file, "pre_tokenizer: ByteLevel with add_prefix_space true is not supported");
        }
        boolean useRegex = byteLevel.path("use_regex").asBoolean(true);
        if (useRegex != expectRegex) {
            throw new ModelFormatException(file, "pre_tokenizer: ByteLevel has use_regex " + useRegex + " where this"
                    + " arrangement needs " + expectRegex + "; supported: " + SUPPORTED);
        }
    }

    private static String regex(Path file, JsonNode split) {
        JsonNode pattern = split.path("pattern");
        if (pattern.has("Regex")) {
            return pattern.get("Regex").asText();
        }
        throw new ModelFormatException(file, "pre_tokenizer: Split has pattern " + pattern + "; expected {\"Regex\": ...}");
    }

    static void flatten(JsonNode node, List<JsonNode> out) {
        if (node == null || node.isNull() || node.isMissingNode()) {
            return;
        }
        if (type(node).equals("Sequence")) {
            JsonNode list = node.has("pretokenizers") ? node.get("pretokenizers")
                    : node.has("normalizers") ? node.get("normalizers")
                    : node.has("decoders") ? node.get("decoders") : node.get("processors");
            if (list != null) {
                for (JsonNode n : list) {
                    flatten(n, out);
                }
            }
            return;
        }
        out.add(node);
    }

    static String type(JsonNode node) {
        return node.path("type").asText("");
    }

    private static String summary(List<JsonNode> steps) {
        return steps.isEmpty() ? "(none)" : steps.stream().map(HuggingFacePreTokenizers::type).toList().toString();
    }

    private static String quote(String s) {
        return "'" + (s.length() > 300 ? s.substring(0, 300) + "..." : s) + "'";
    }
}

package io.offload4j.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.MissingNode;
import io.offload4j.gguf.GgufArray;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import io.offload4j.gguf.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Turns a Hugging Face model directory's tokenizer files into the {@code tokenizer.*} GGUF metadata that
 * llama.cpp's converter would write for them, so that {@link Tokenizers#fromGguf} and the chat templates treat a
 * safetensors model exactly like its GGUF conversion:
 * <ul>
 *   <li>{@code tokenizer.json}: a BPE model, either byte-level (Llama 3, Qwen, GPT-2, SmolLM: tokenizer model
 *       {@code gpt2} with the pre-tokenizer its {@code pre_tokenizer} names, see {@link HuggingFacePreTokenizers})
 *       or SentencePiece-style with byte fallback (Llama 2, Mistral: tokenizer model {@code llama}, whose merge
 *       priorities become scores: the token made by merge {@code r} scores {@code -r}); the added tokens
 *       (special → control, others → user-defined);</li>
 *   <li>{@code tokenizer_config.json} (optional): {@code bos_token}, {@code eos_token}, {@code pad_token},
 *       {@code add_bos_token}, {@code add_eos_token}, {@code chat_template} (a string or named templates);</li>
 *   <li>{@code chat_template.jinja} (newer transformers save the template there), which wins over the above;</li>
 *   <li>{@code config.json}: {@code bos_token_id}/{@code eos_token_id} where tokenizer_config.json names none.</li>
 * </ul>
 * Ids the tokenizer does not use up to the embedding's row count become unused {@code [PADn]} tokens, as in
 * llama.cpp's conversions (Qwen's embeddings have spare rows).
 */
public final class HuggingFaceTokenizerFiles {

    public static final String TOKENIZER_JSON = "tokenizer.json";
    public static final String TOKENIZER_CONFIG = "tokenizer_config.json";
    public static final String CHAT_TEMPLATE_FILE = "chat_template.jinja";
    private static final String REQUIRED = "a safetensors directory needs config.json, *.safetensors and tokenizer.json";
    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");
    private static final ObjectMapper JSON = new ObjectMapper();

    private HuggingFaceTokenizerFiles() {}

    /** Whether the directory has a tokenizer.json. */
    public static boolean hasTokenizer(Path directory) {
        return Files.isRegularFile(directory.resolve(TOKENIZER_JSON));
    }

    /**
     * The tokenizer metadata of {@code directory}.
     *
     * @param vocabularySize rows of the model's embedding: the vocabulary is padded to it, and may not exceed it
     * @throws ModelFormatException naming the file and the key or token at fault
     */
    public static GgufMetadata load(Path directory, int vocabularySize) {
        Path file = directory.resolve(TOKENIZER_JSON);
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(directory, "has no " + TOKENIZER_JSON + "; " + REQUIRED + " (a checkpoint"
                    + " with only tokenizer.model or vocab.json: save the tokenizer again with a current transformers,"
                    + " AutoTokenizer.from_pretrained(dir).save_pretrained(dir))");
        }
        JsonNode root = read(file);
        Path configFile = directory.resolve(TOKENIZER_CONFIG);
        JsonNode config = Files.isRegularFile(configFile) ? read(configFile) : MissingNode.getInstance();
        Path modelConfigFile = directory.resolve("config.json");
        JsonNode modelConfig = Files.isRegularFile(modelConfigFile) ? read(modelConfigFile) : MissingNode.getInstance();

        Parsed v = parse(file, root, vocabularySize);
        Map<String, GgufMetadata.Entry> m = new LinkedHashMap<>();
        put(m, "general.name", GgufValueType.STRING, directory.toAbsolutePath().normalize().getFileName().toString());
        put(m, Vocabulary.KEY_MODEL, GgufValueType.STRING, v.spm ? "llama" : "gpt2");
        if (!v.spm) {
            put(m, Vocabulary.KEY_PRE, GgufValueType.STRING, v.pre);
        }
        put(m, Vocabulary.KEY_TOKENS, GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, v.tokens));
        put(m, Vocabulary.KEY_TOKEN_TYPE, GgufValueType.ARRAY, new GgufArray(GgufValueType.INT32, v.types));
        if (v.spm) {
            put(m, Vocabulary.KEY_SCORES, GgufValueType.ARRAY, new GgufArray(GgufValueType.FLOAT32, v.scores));
            put(m, Vocabulary.KEY_ADD_SPACE_PREFIX, GgufValueType.BOOL, v.addSpacePrefix);
        } else {
            put(m, Vocabulary.KEY_MERGES, GgufValueType.ARRAY, new GgufArray(GgufValueType.STRING, v.merges));
        }

        TemplateTokens template = templateTokens(root.path("post_processor"));
        int bos = specialId(configFile, config, "bos_token", v, modelConfigFile, modelConfig, "bos_token_id");
        if (bos < 0 && template.first != null) {
            bos = v.idOf(template.first);
        }
        int eos = specialId(configFile, config, "eos_token", v, modelConfigFile, modelConfig, "eos_token_id");
        int pad = specialId(configFile, config, "pad_token", v, null, MissingNode.getInstance(), null);
        putId(m, Vocabulary.KEY_BOS, bos);
        putId(m, Vocabulary.KEY_EOS, eos);
        putId(m, Vocabulary.KEY_PAD, pad);
        putId(m, Vocabulary.KEY_UNK, v.unk);
        boolean addBos = bool(configFile, config, "add_bos_token",
                bos >= 0 && template.first != null && template.first.equals(v.tokens[bos]));
        boolean addEos = bool(configFile, config, "add_eos_token",
                eos >= 0 && template.last != null && template.last.equals(v.tokens[eos]));
        put(m, Vocabulary.KEY_ADD_BOS, GgufValueType.BOOL, addBos);
        put(m, Vocabulary.KEY_ADD_EOS, GgufValueType.BOOL, addEos);
        chatTemplates(directory, configFile, config, m);
        return new GgufMetadata(file, m);
    }

    /** The vocabulary part of tokenizer.json. */
    private record Parsed(boolean spm, String pre, String[] tokens, int[] types, float[] scores, String[] merges,
                          boolean addSpacePrefix, int unk, Map<String, Integer> ids) {
        int idOf(String text) {
            Integer id = ids.get(text);
            return id == null ? -1 : id;
        }
    }

    private static Parsed parse(Path file, JsonNode root, int vocabularySize) {
        JsonNode model = root.path("model");
        if (!model.isObject()) {
            throw new ModelFormatException(file, "has no \"model\" object; is it a Hugging Face tokenizers file?");
        }
        String type = model.path("type").asText("BPE");
        if (!type.equals("BPE")) {
            throw new ModelFormatException(file, "model type '" + type + "' is not supported; supported: BPE (byte-level"
                    + " as in Llama 3, Qwen and GPT-2, or SentencePiece-style with byte_fallback as in Llama 2 and Mistral)");
        }
        JsonNode vocabNode = model.path("vocab");
        if (!vocabNode.isObject()) {
            throw new ModelFormatException(file, "model.vocab is " + describe(vocabNode) + "; expected an object"
                    + " (token → id)");
        }
        List<JsonNode> pre = new ArrayList<>();
        List<JsonNode> decoders = new ArrayList<>();
        List<JsonNode> normalizers = new ArrayList<>();
        HuggingFacePreTokenizers.flatten(root.get("pre_tokenizer"), pre);
        HuggingFacePreTokenizers.flatten(root.get("decoder"), decoders);
        HuggingFacePreTokenizers.flatten(root.get("normalizer"), normalizers);
        boolean byteLevel = hasType(pre, "ByteLevel") || hasType(decoders, "ByteLevel");
        boolean spm = !byteLevel && (model.path("byte_fallback").asBoolean(false) || hasType(pre, "Metaspace")
                || hasType(decoders, "Metaspace") || hasType(decoders, "ByteFallback"));
        if (!byteLevel && !spm) {
            throw new ModelFormatException(file, "is neither a byte-level BPE (no ByteLevel pre_tokenizer or decoder)"
                    + " nor a SentencePiece-style BPE (no byte_fallback, Metaspace or ByteFallback); only these two are"
                    + " supported");
        }
        String preName = byteLevel ? HuggingFacePreTokenizers.name(file, root.get("pre_tokenizer")) : null;
        boolean addSpacePrefix = false;
        for (JsonNode n : normalizers) {
            String t = HuggingFacePreTokenizers.type(n);
            if (byteLevel && !t.equals("NFC")) {
                throw new ModelFormatException(file, "normalizer '" + t + "' is not supported for a byte-level BPE"
                        + " (supported: none, NFC)");
            }
            if (spm) {
                if (t.equals("Prepend") && n.path("prepend").asText().equals("▁")) {
                    addSpacePrefix = true;
                } else if (!(t.equals("Replace") || t.equals("Prepend"))) {
                    throw new ModelFormatException(file, "normalizer '" + t + "' is not supported for a SentencePiece-style"
                            + " BPE (supported: Prepend '▁', Replace ' ' → '▁')");
                }
            }
        }
        for (JsonNode n : pre) {
            if (spm && HuggingFacePreTokenizers.type(n).equals("Metaspace")) {
                String scheme = n.path("prepend_scheme").asText(n.path("add_prefix_space").asBoolean(true) ? "always" : "never");
                addSpacePrefix |= !scheme.equals("never");
            }
        }

        Map<String, Integer> ids = new HashMap<>(vocabNode.size() * 2);
        int maxId = -1;
        for (Map.Entry<String, JsonNode> e : vocabNode.properties()) {
            int id = tokenId(file, "model.vocab entry '" + e.getKey() + "'", e.getValue());
            ids.put(e.getKey(), id);
            maxId = Math.max(maxId, id);
        }
        JsonNode added = root.path("added_tokens");
        for (JsonNode a : added) {
            maxId = Math.max(maxId, tokenId(file, "added token " + a.path("content"), a.path("id")));
        }
        if (vocabularySize > 0 && maxId >= vocabularySize) {
            throw new ModelFormatException(file, "has token ids up to " + maxId + ", but the model's embedding has only "
                    + vocabularySize + " rows (config.json vocab_size); the tokenizer belongs to another model");
        }
        int n = Math.max(maxId + 1, vocabularySize);
        String[] tokens = new String[n];
        int[] types = new int[n];
        for (Map.Entry<String, Integer> e : ids.entrySet()) {
            int id = e.getValue();
            if (tokens[id] != null) {
                throw new ModelFormatException(file, "model.vocab gives id " + id + " to both '" + tokens[id] + "' and '"
                        + e.getKey() + "'; ids must be unique");
            }
            tokens[id] = e.getKey();
            types[id] = spm && BYTE_TOKEN.matcher(e.getKey()).matches() ? TokenType.BYTE : TokenType.NORMAL;
        }
        for (JsonNode a : added) {
            int id = a.path("id").asInt();
            JsonNode contentNode = a.path("content");
            if (!contentNode.isTextual()) {
                throw new ModelFormatException(file, "added token with id " + id + " has content " + describe(contentNode)
                        + "; expected a string");
            }
            String content = contentNode.textValue();
            if (tokens[id] != null && !tokens[id].equals(content)) {
                throw new ModelFormatException(file, "added token '" + content + "' has id " + id + ", which model.vocab"
                        + " gives to '" + tokens[id] + "'");
            }
            tokens[id] = content;
            types[id] = a.path("special").asBoolean(false) ? TokenType.CONTROL : TokenType.USER_DEFINED;
            ids.put(content, id);
        }
        int unk = -1;
        JsonNode unkNode = model.get("unk_token");
        if (unkNode != null && unkNode.isTextual()) {
            unk = ids.getOrDefault(unkNode.textValue(), -1);
            if (unk >= 0) {
                types[unk] = TokenType.UNKNOWN;
            }
        }
        for (int i = 0; i < n; i++) {
            if (tokens[i] == null) {
                tokens[i] = "[PAD" + i + "]";
                types[i] = TokenType.UNUSED;
            }
        }
        String[] merges = merges(file, model.path("merges"));
        float[] scores = spm ? scores(tokens, types, ids, merges) : null;
        return new Parsed(spm, preName, tokens, types, scores, merges, addSpacePrefix, unk, ids);
    }

    /** "a b" per merge, from either spelling tokenizer.json uses ("a b" strings or ["a", "b"] pairs). */
    private static String[] merges(Path file, JsonNode node) {
        if (node.isMissingNode() || node.isNull()) {
            return new String[0];
        }
        if (!node.isArray()) {
            throw new ModelFormatException(file, "model.merges is " + describe(node) + "; expected an array");
        }
        String[] out = new String[node.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode m = node.get(i);
            if (m.isTextual() && m.textValue().indexOf(' ') > 0) {
                out[i] = m.textValue();
            } else if (m.isArray() && m.size() == 2 && m.get(0).isTextual() && m.get(1).isTextual()
                    && m.get(0).textValue().indexOf(' ') < 0 && m.get(1).textValue().indexOf(' ') < 0) {
                out[i] = m.get(0).textValue() + " " + m.get(1).textValue();
            } else {
                throw new ModelFormatException(file, "model.merges[" + i + "] is " + m + "; expected \"left right\" or"
                        + " [\"left\", \"right\"] (parts without spaces)");
            }
        }
        return out;
    }

    /**
     * SentencePiece scores from BPE merge ranks: the SentencePiece tokenizer merges the pair whose result scores
     * highest, BPE applies the lowest-ranked merge first, so the token made by merge {@code r} scores {@code -r}.
     * Tokens no merge makes rank after every merge.
     */
    private static float[] scores(String[] tokens, int[] types, Map<String, Integer> ids, String[] merges) {
        float[] scores = new float[tokens.length];
        boolean[] set = new boolean[tokens.length];
        for (int r = 0; r < merges.length; r++) {
            String m = merges[r];
            int sp = m.indexOf(' ');
            Integer id = ids.get(m.substring(0, sp) + m.substring(sp + 1));
            if (id != null && !set[id]) {
                scores[id] = -r;
                set[id] = true;
            }
        }
        for (int i = 0; i < tokens.length; i++) {
            if (!set[i] && types[i] == TokenType.NORMAL) {
                scores[i] = -(float) (merges.length + i);
            }
        }
        return scores;
    }

    /** The first and last special tokens of a TemplateProcessing post-processor's single-sequence template. */
    private record TemplateTokens(String first, String last) {}

    private static TemplateTokens templateTokens(JsonNode postProcessor) {
        List<JsonNode> steps = new ArrayList<>();
        HuggingFacePreTokenizers.flatten(postProcessor, steps);
        for (JsonNode s : steps) {
            if (HuggingFacePreTokenizers.type(s).equals("TemplateProcessing") && s.path("single").isArray()
                    && !s.path("single").isEmpty()) {
                JsonNode single = s.path("single");
                JsonNode first = single.get(0).path("SpecialToken").path("id");
                JsonNode last = single.get(single.size() - 1).path("SpecialToken").path("id");
                return new TemplateTokens(first.isTextual() ? first.textValue() : null,
                        last.isTextual() && single.size() > 1 ? last.textValue() : null);
            }
        }
        return new TemplateTokens(null, null);
    }

    /**
     * A special token's id: tokenizer_config.json's {@code key} (a string or {"content": ...}), else config.json's
     * {@code idKey} (an id, or a list whose first id is taken), else -1.
     */
    private static int specialId(Path configFile, JsonNode config, String key, Parsed v, Path modelConfigFile,
                                 JsonNode modelConfig, String idKey) {
        JsonNode t = config.path(key);
        if (t.isObject()) {
            t = t.path("content");
        }
        if (t.isTextual()) {
            int id = v.idOf(t.textValue());
            if (id < 0) {
                throw new ModelFormatException(configFile, "key '" + key + "' is '" + t.textValue() + "', which is not a"
                        + " token of " + TOKENIZER_JSON + "; the files come from different models");
            }
            return id;
        }
        if (idKey == null) {
            return -1;
        }
        JsonNode id = modelConfig.path(idKey);
        if (id.isArray()) {
            id = id.path(0);
        }
        if (id.isIntegralNumber()) {
            int i = id.asInt();
            if (i < 0 || i >= v.tokens.length) {
                throw new ModelFormatException(modelConfigFile, "key '" + idKey + "' is " + i + ", outside the vocabulary"
                        + " of " + v.tokens.length + " tokens");
            }
            return i;
        }
        return -1;
    }

    private static void chatTemplates(Path directory, Path configFile, JsonNode config, Map<String, GgufMetadata.Entry> m) {
        Path jinja = directory.resolve(CHAT_TEMPLATE_FILE);
        if (Files.isRegularFile(jinja)) {
            try {
                put(m, "tokenizer.chat_template", GgufValueType.STRING, Files.readString(jinja));
            } catch (IOException e) {
                throw new ModelFormatException(jinja, "cannot be read: " + e.getMessage(), e);
            }
            return;
        }
        JsonNode t = config.path("chat_template");
        if (t.isTextual()) {
            put(m, "tokenizer.chat_template", GgufValueType.STRING, t.textValue());
        } else if (t.isArray()) {
            for (JsonNode named : t) {
                String name = named.path("name").asText("");
                JsonNode template = named.path("template");
                if (!template.isTextual()) {
                    throw new ModelFormatException(configFile, "chat_template entry '" + name + "' has no template string");
                }
                if (name.equals("default")) {
                    put(m, "tokenizer.chat_template", GgufValueType.STRING, template.textValue());
                } else {
                    put(m, "tokenizer.chat_template." + name, GgufValueType.STRING, template.textValue());
                }
            }
        } else if (!t.isMissingNode() && !t.isNull()) {
            throw new ModelFormatException(configFile, "key 'chat_template' is " + describe(t) + "; expected a string or"
                    + " a list of {name, template}");
        }
    }

    private static boolean bool(Path file, JsonNode config, String key, boolean defaultValue) {
        JsonNode v = config.path(key);
        if (v.isMissingNode() || v.isNull()) {
            return defaultValue;
        }
        if (!v.isBoolean()) {
            throw new ModelFormatException(file, "key '" + key + "' is " + v + "; expected true or false");
        }
        return v.booleanValue();
    }

    private static int tokenId(Path file, String what, JsonNode id) {
        if (!id.isIntegralNumber() || id.asLong() < 0 || id.asLong() >= Integer.MAX_VALUE - 16) {
            throw new ModelFormatException(file, what + " has id " + describe(id) + "; expected a non-negative integer");
        }
        return id.asInt();
    }

    private static boolean hasType(List<JsonNode> nodes, String type) {
        return nodes.stream().anyMatch(n -> HuggingFacePreTokenizers.type(n).equals(type));
    }

    private static JsonNode read(Path file) {
        try {
            JsonNode n = JSON.readTree(file.toFile());
            if (n == null || !n.isObject()) {
                throw new ModelFormatException(file, "is not a JSON object");
            }
            return n;
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file, "is not valid JSON (" + ModelFormatException.jsonProblem(e) + ")", e);
        } catch (IOException e) {
            throw new ModelFormatException(file, "cannot be read: " + e.getMessage(), e);
        }
    }

    private static String describe(JsonNode n) {
        return n.isMissingNode() ? "missing" : n.toString().length() > 80 ? n.toString().substring(0, 80) + "..." : n.toString();
    }

    private static void putId(Map<String, GgufMetadata.Entry> m, String key, int id) {
        if (id >= 0) {
            put(m, key, GgufValueType.UINT32, (long) id);
        }
    }

    private static void put(Map<String, GgufMetadata.Entry> m, String key, GgufValueType type, Object value) {
        m.put(key, new GgufMetadata.Entry(type, value));
    }
}

package io.offload4j.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import java.util.regex.Pattern;

/**
 * Builds an encoder model's tokenizer from a Hugging Face {@code tokenizer.json} ({@code WordPiece} or
 * {@code Unigram} model) or from the {@code tokenizer.*} keys llama.cpp writes into a BERT-family GGUF
 * ({@code bert}: WordPiece with its pieces in "phantom space" form, {@code t5}: Unigram).
 *
 * <p>SentencePiece's {@code Precompiled} normaliser (a compiled NFKC variant) is computed as Java's NFKC; the two
 * differ only on rare characters (SentencePiece's table also maps a few control and full-width characters).
 */
public final class EncoderTokenizers {

    private static final ObjectMapper JSON = new ObjectMapper();

    private EncoderTokenizers() {}

    /** The tokenizer of a Hugging Face model directory. */
    public static EncoderTokenizer fromDirectory(Path directory) {
        Path file = directory.resolve(HuggingFaceTokenizerFiles.TOKENIZER_JSON);
        if (!Files.isRegularFile(file)) {
            throw new ModelFormatException(directory, "has no " + HuggingFaceTokenizerFiles.TOKENIZER_JSON
                    + "; an encoder model directory needs config.json, *.safetensors and tokenizer.json (save the"
                    + " tokenizer with a current transformers: AutoTokenizer.from_pretrained(dir).save_pretrained(dir))");
        }
        JsonNode root;
        try {
            root = JSON.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ModelFormatException(file, "cannot be read as JSON: " + e.getMessage(), e);
        }
        JsonNode model = root.path("model");
        String type = model.path("type").asText("");
        if (type.isEmpty() && model.has("vocab")) {
            type = model.path("vocab").isArray() ? "Unigram" : "WordPiece";
        }
        Specials specials = specials(file, root.path("post_processor"));
        return switch (type) {
            case "WordPiece" -> wordPiece(file, root, model, specials);
            case "Unigram" -> unigram(file, root, model, specials);
            default -> throw new ModelFormatException(file, "model type '" + type + "' is not an encoder tokenizer"
                    + " supported here; supported: WordPiece (BERT) and Unigram (XLM-RoBERTa)");
        };
    }

    /** The tokenizer of a BERT-family GGUF ({@code tokenizer.ggml.model} {@code bert} or {@code t5}). */
    public static EncoderTokenizer fromGguf(GgufMetadata md) {
        String model = md.optString(Vocabulary.KEY_MODEL).orElse("");
        String[] tokens = Vocabulary.stringArray(md, Vocabulary.KEY_TOKENS);
        switch (model) {
            case "bert" -> {
                // llama.cpp's converter writes "▁word" for a word's first piece and "ing" for "##ing"
                String[] pieces = new String[tokens.length];
                for (int i = 0; i < tokens.length; i++) {
                    String t = tokens[i];
                    pieces[i] = t.startsWith("[") && t.endsWith("]") ? t
                            : t.startsWith("\u2581") ? t.substring(1) : "##" + t;
                }
                int unk = id(md, Vocabulary.KEY_UNK, pieces, "[UNK]");
                int cls = id(md, "tokenizer.ggml.cls_token_id", pieces, "[CLS]");
                int sep = id(md, "tokenizer.ggml.seperator_token_id", pieces, "[SEP]");
                // llama.cpp's WordPiece always lower-cases and strips accents: GGUF keeps no casing flag
                return new WordPieceTokenizer(pieces, unk, "##", 100, WordPieceTokenizer.Normalization.UNCASED, cls,
                        sep);
            }
            case "t5" -> {
                float[] f = md.getFloatArray(Vocabulary.KEY_SCORES);
                double[] scores = new double[f.length];
                for (int i = 0; i < f.length; i++) {
                    scores[i] = f[i];
                }
                int unk = id(md, Vocabulary.KEY_UNK, tokens, "<unk>");
                int cls = id(md, "tokenizer.ggml.cls_token_id", tokens, "<s>");
                int sep = id(md, "tokenizer.ggml.seperator_token_id", tokens, "</s>");
                return new UnigramTokenizer(tokens, scores, unk, EncoderTokenizers::nfkcCollapsingSpaces, true, cls, sep,
                        EncoderTokenizer.PairStyle.ROBERTA);
            }
            default -> throw new TokenizerException("metadata key '" + Vocabulary.KEY_MODEL + "' is '" + model
                    + "'; an encoder model needs tokenizer model bert (WordPiece) or t5 (Unigram)");
        }
    }

    private static int id(GgufMetadata md, String key, String[] tokens, String text) {
        if (md.has(key)) {
            return md.getInt(key);
        }
        for (int i = 0; i < tokens.length; i++) {
            if (text.equals(tokens[i])) {
                return i;
            }
        }
        throw new TokenizerException("metadata key '" + key + "' is missing and the vocabulary has no '" + text
                + "' token");
    }

    /** SentencePiece's {@code nmt} rule: some control characters dropped, unusual spaces made plain ones. */
    static String nmt(String s) {
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            i += Character.charCount(c);
            if ((c >= 0x0001 && c <= 0x0008) || c == 0x000B || (c >= 0x000E && c <= 0x001F) || c == 0x007F
                    || c == 0x008F || c == 0x009F) {
                continue;
            }
            boolean space = c == 0x0009 || c == 0x000A || c == 0x000C || c == 0x000D || c == 0x1680
                    || (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581 || c == 0xFEFF
                    || c == 0xFFFD;
            if (space) {
                b.append(' ');
            } else {
                b.appendCodePoint(c);
            }
        }
        return b.toString();
    }

    private static String nfkcCollapsingSpaces(String s) {
        return Normalizer.normalize(s, Normalizer.Form.NFKC).replaceAll(" {2,}", " ").strip();
    }

    // ------------------------------------------------------------------ tokenizer.json

    private record Specials(int cls, int sep, EncoderTokenizer.PairStyle style) {}

    /** CLS and SEP ids and the pair layout, from BertProcessing, RobertaProcessing or TemplateProcessing. */
    private static Specials specials(Path file, JsonNode post) {
        String type = post.path("type").asText("");
        switch (type) {
            case "BertProcessing", "RobertaProcessing" -> {
                return new Specials(post.path("cls").path(1).asInt(), post.path("sep").path(1).asInt(),
                        type.equals("BertProcessing") ? EncoderTokenizer.PairStyle.BERT
                                : EncoderTokenizer.PairStyle.ROBERTA);
            }
            case "TemplateProcessing" -> {
                JsonNode single = post.path("single");
                JsonNode pair = post.path("pair");
                String first = single.path(0).path("SpecialToken").path("id").asText(null);
                String last = single.path(single.size() - 1).path("SpecialToken").path("id").asText(null);
                if (single.size() != 3 || first == null || last == null) {
                    throw new ModelFormatException(file, "post_processor TemplateProcessing 'single' is " + single
                            + "; an encoder tokenizer here frames a text as CLS $A SEP");
                }
                JsonNode tokens = post.path("special_tokens");
                int cls = tokens.path(first).path("ids").path(0).asInt(-1);
                int sep = tokens.path(last).path("ids").path(0).asInt(-1);
                if (cls < 0 || sep < 0) {
                    throw new ModelFormatException(file, "post_processor special_tokens lack the ids of '" + first
                            + "' or '" + last + "'");
                }
                int specialsInPair = 0;
                boolean secondType1 = false;
                for (JsonNode p : pair) {
                    if (p.has("SpecialToken")) {
                        specialsInPair++;
                    } else if (p.path("Sequence").path("id").asText().equals("B")) {
                        secondType1 = p.path("Sequence").path("type_id").asInt() == 1;
                    }
                }
                return new Specials(cls, sep, specialsInPair == 4 || !secondType1 && specialsInPair != 3
                        ? EncoderTokenizer.PairStyle.ROBERTA : EncoderTokenizer.PairStyle.BERT);
            }
            default -> throw new ModelFormatException(file, "post_processor is " + (type.isEmpty() ? "missing" : "'"
                    + type + "'") + "; an encoder tokenizer needs BertProcessing, RobertaProcessing or"
                    + " TemplateProcessing to say which tokens frame a text");
        }
    }

    private static WordPieceTokenizer wordPiece(Path file, JsonNode root, JsonNode model, Specials specials) {
        JsonNode vocab = model.path("vocab");
        int size = 0;
        for (Map.Entry<String, JsonNode> e : vocab.properties()) {
            size = Math.max(size, e.getValue().asInt() + 1);
        }
        for (JsonNode a : root.path("added_tokens")) {
            size = Math.max(size, a.path("id").asInt() + 1);
        }
        String[] pieces = new String[size];
        for (Map.Entry<String, JsonNode> e : vocab.properties()) {
            pieces[e.getValue().asInt()] = e.getKey();
        }
        for (JsonNode a : root.path("added_tokens")) {
            pieces[a.path("id").asInt()] = a.path("content").asText();
        }
        String unkToken = model.path("unk_token").asText("[UNK]");
        JsonNode unk = vocab.get(unkToken);
        if (unk == null) {
            throw new ModelFormatException(file, "model.unk_token '" + unkToken + "' is not in model.vocab");
        }
        JsonNode n = root.path("normalizer");
        WordPieceTokenizer.Normalization norm;
        if (n.path("type").asText("").equals("BertNormalizer")) {
            boolean lower = n.path("lowercase").asBoolean(true);
            JsonNode strip = n.path("strip_accents");
            norm = new WordPieceTokenizer.Normalization(n.path("clean_text").asBoolean(true),
                    n.path("handle_chinese_chars").asBoolean(true),
                    strip.isBoolean() ? strip.asBoolean() : lower, lower);
        } else if (n.isMissingNode() || n.isNull()) {
            norm = new WordPieceTokenizer.Normalization(false, false, false, false);
        } else {
            throw new ModelFormatException(file, "normalizer '" + n.path("type").asText() + "' is not supported for a"
                    + " WordPiece tokenizer (supported: BertNormalizer, or none)");
        }
        return new WordPieceTokenizer(pieces, unk.asInt(), model.path("continuing_subword_prefix").asText("##"),
                model.path("max_input_chars_per_word").asInt(100), norm, specials.cls(), specials.sep());
    }

    private static UnigramTokenizer unigram(Path file, JsonNode root, JsonNode model, Specials specials) {
        JsonNode vocab = model.path("vocab");
        String[] pieces = new String[vocab.size()];
        double[] scores = new double[vocab.size()];
        for (int i = 0; i < vocab.size(); i++) {
            JsonNode e = vocab.get(i);
            if (!e.isArray() || e.size() != 2 || !e.get(0).isTextual() || !e.get(1).isNumber()) {
                throw new ModelFormatException(file, "model.vocab[" + i + "] is " + e + "; expected [piece, score]");
            }
            pieces[i] = e.get(0).asText();
            scores[i] = e.get(1).asDouble();
        }
        if (model.path("byte_fallback").asBoolean(false)) {
            throw new ModelFormatException(file, "a Unigram model with byte_fallback is not supported here");
        }
        int unk = model.path("unk_id").asInt(-1);
        if (unk < 0 || unk >= pieces.length) {
            throw new ModelFormatException(file, "model.unk_id is " + model.path("unk_id") + "; expected a vocabulary id");
        }
        List<UnaryOperator<String>> steps = new ArrayList<>();
        List<JsonNode> normalizers = new ArrayList<>();
        HuggingFacePreTokenizers.flatten(root.get("normalizer"), normalizers);
        for (JsonNode n : normalizers) {
            steps.add(normalizer(file, n));
        }
        List<JsonNode> pre = new ArrayList<>();
        HuggingFacePreTokenizers.flatten(root.get("pre_tokenizer"), pre);
        boolean prepend = false;
        boolean metaspace = false;
        for (JsonNode p : pre) {
            String t = HuggingFacePreTokenizers.type(p);
            if (t.equals("Metaspace")) {
                metaspace = true;
                String scheme = p.path("prepend_scheme").asText(p.path("add_prefix_space").asBoolean(true)
                        ? "always" : "never");
                prepend = !scheme.equals("never");
            } else if (t.equals("WhitespaceSplit")) {
                steps.add(s -> s.strip().replaceAll("\\s+", " "));
            } else {
                throw new ModelFormatException(file, "pre_tokenizer '" + t + "' is not supported for a Unigram"
                        + " tokenizer (supported: Metaspace, WhitespaceSplit)");
            }
        }
        if (!metaspace) {
            throw new ModelFormatException(file, "a Unigram tokenizer here needs a Metaspace pre_tokenizer");
        }
        UnaryOperator<String> all = s -> {
            for (UnaryOperator<String> step : steps) {
                s = step.apply(s);
            }
            return s;
        };
        return new UnigramTokenizer(pieces, scores, unk, all, prepend, specials.cls(), specials.sep(),
                specials.style());
    }

    private static UnaryOperator<String> normalizer(Path file, JsonNode n) {
        String type = HuggingFacePreTokenizers.type(n);
        return switch (type) {
            case "Nmt" -> EncoderTokenizers::nmt;
            case "Precompiled", "NFKC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFC" -> s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKD" -> s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase" -> s -> s.toLowerCase(java.util.Locale.ROOT);
            case "Strip" -> {
                boolean left = n.path("left").asBoolean(true);
                boolean right = n.path("right").asBoolean(true);
                yield s -> left && right ? s.strip() : left ? s.stripLeading() : right ? s.stripTrailing() : s;
            }
            case "Prepend" -> {
                String p = n.path("prepend").asText();
                yield s -> s.isEmpty() ? s : p + s;
            }
            case "Replace" -> {
                JsonNode pattern = n.path("pattern");
                String content = n.path("content").asText();
                if (pattern.has("Regex")) {
                    Pattern regex = Pattern.compile(pattern.path("Regex").asText());
                    String replacement = java.util.regex.Matcher.quoteReplacement(content);
                    yield s -> regex.matcher(s).replaceAll(replacement);
                }
                String literal = pattern.path("String").asText();
                yield s -> s.replace(literal, content);
            }
            default -> throw new ModelFormatException(file, "normalizer '" + type + "' is not supported for a Unigram"
                    + " tokenizer (supported: Precompiled (as NFKC), Nmt, NFKC, NFC, NFD, NFKD, Lowercase, Strip, Prepend,"
                    + " Replace)");
        };
    }
}

package io.offload4j.tokenizer;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Builds a byte-level BPE vocabulary from Hugging Face files: {@code vocab.json} (token → id, already
 * parsed by the caller) and {@code merges.txt}, plus the model's added tokens.
 */
public final class HuggingFaceBpeConverter {

    /** An added token of tokenizer.json / tokenizer_config.json. {@code special} ones are control tokens. */
    public record AddedToken(int id, String text, boolean special) {}

    /** Qwen2 / Qwen2.5 added tokens (151643..151664). */
    public static final List<AddedToken> QWEN2_ADDED_TOKENS = List.of(
            new AddedToken(151643, "<|endoftext|>", true),
            new AddedToken(151644, "<|im_start|>", true),
            new AddedToken(151645, "<|im_end|>", true),
            new AddedToken(151646, "<|object_ref_start|>", true),
            new AddedToken(151647, "<|object_ref_end|>", true),
            new AddedToken(151648, "<|box_start|>", true),
            new AddedToken(151649, "<|box_end|>", true),
            new AddedToken(151650, "<|quad_start|>", true),
            new AddedToken(151651, "<|quad_end|>", true),
            new AddedToken(151652, "<|vision_start|>", true),
            new AddedToken(151653, "<|vision_end|>", true),
            new AddedToken(151654, "<|vision_pad|>", true),
            new AddedToken(151655, "<|image_pad|>", true),
            new AddedToken(151656, "<|video_pad|>", true),
            new AddedToken(151657, "<tool_call>", false),
            new AddedToken(151658, "</tool_call>", false),
            new AddedToken(151659, "<|fim_prefix|>", true),
            new AddedToken(151660, "<|fim_middle|>", true),
            new AddedToken(151661, "<|fim_suffix|>", true),
            new AddedToken(151662, "<|fim_pad|>", true),
            new AddedToken(151663, "<|repo_name|>", true),
            new AddedToken(151664, "<|file_sep|>", true));

    private HuggingFaceBpeConverter() {}

    /** Reads merges.txt (optionally .gz): lines "left right", a leading "#version" line skipped. */
    public static List<String> readMerges(Path mergesFile) {
        try (InputStream raw = Files.newInputStream(mergesFile);
             InputStream in = mergesFile.toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw) {
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            List<String> merges = new ArrayList<>();
            String line;
            boolean first = true;
            while ((line = r.readLine()) != null) {
                if (first && line.startsWith("#version")) {
                    first = false;
                    continue;
                }
                first = false;
                if (!line.isEmpty()) {
                    merges.add(line);
                }
            }
            return merges;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read merges file " + mergesFile, e);
        }
    }

    /**
     * Converts. Ids must be dense: vocab.json and the added tokens together cover 0..n-1 exactly once.
     *
     * @param eos EOS id or -1; {@code pad} likewise
     */
    public static ConvertedVocabulary convert(String name, String pre, Map<String, Integer> vocab, List<String> merges,
                                              List<AddedToken> added, int bos, int eos, int pad, boolean addBos) {
        int n = vocab.size() + added.size();
        String[] tokens = new String[n];
        int[] types = new int[n];
        for (var e : vocab.entrySet()) {
            put(tokens, types, e.getValue(), e.getKey(), TokenType.NORMAL, name);
        }
        for (AddedToken a : added) {
            put(tokens, types, a.id(), a.text(), a.special() ? TokenType.CONTROL : TokenType.USER_DEFINED, name);
        }
        for (int i = 0; i < n; i++) {
            if (tokens[i] == null) {
                throw new TokenizerException(name + ": no token has id " + i + " (ids of vocab.json and the added tokens"
                        + " must cover 0.." + (n - 1) + ")");
            }
        }
        PreTokenizer.forName(pre); // fail early on an unknown name
        return new ConvertedVocabulary(name, pre, tokens, types, merges.toArray(new String[0]), bos, eos, pad, addBos);
    }

    private static void put(String[] tokens, int[] types, int id, String text, int type, String name) {
        if (id < 0 || id >= tokens.length) {
            throw new TokenizerException(name + ": token '" + text + "' has id " + id + ", outside 0.." + (tokens.length - 1));
        }
        if (tokens[id] != null) {
            throw new TokenizerException(name + ": id " + id + " is given to both '" + tokens[id] + "' and '" + text + "'");
        }
        tokens[id] = text;
        types[id] = type;
    }

    /** Qwen2 / 2.5 vocabulary: pre-tokenizer {@code qwen2}, EOS and padding {@code <|endoftext|>}, no BOS. */
    public static ConvertedVocabulary qwen2(Map<String, Integer> vocab, List<String> merges) {
        return convert("qwen2", "qwen2", vocab, merges, QWEN2_ADDED_TOKENS, -1, 151643, 151643, false);
    }
}

package io.offload4j.tokenizer;

import io.offload4j.gguf.GgufMetadata;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The token list of a model with its types, scores and special token ids, read from the
 * {@code tokenizer.ggml.*} metadata. Immutable.
 */
public final class Vocabulary {

    public static final String KEY_MODEL = "tokenizer.ggml.model";
    public static final String KEY_PRE = "tokenizer.ggml.pre";
    public static final String KEY_TOKENS = "tokenizer.ggml.tokens";
    public static final String KEY_SCORES = "tokenizer.ggml.scores";
    public static final String KEY_TOKEN_TYPE = "tokenizer.ggml.token_type";
    public static final String KEY_MERGES = "tokenizer.ggml.merges";
    public static final String KEY_BOS = "tokenizer.ggml.bos_token_id";
    public static final String KEY_EOS = "tokenizer.ggml.eos_token_id";
    public static final String KEY_EOT = "tokenizer.ggml.eot_token_id";
    public static final String KEY_EOM = "tokenizer.ggml.eom_token_id";
    public static final String KEY_UNK = "tokenizer.ggml.unknown_token_id";
    public static final String KEY_PAD = "tokenizer.ggml.padding_token_id";
    public static final String KEY_ADD_BOS = "tokenizer.ggml.add_bos_token";
    public static final String KEY_ADD_EOS = "tokenizer.ggml.add_eos_token";
    public static final String KEY_ADD_SPACE_PREFIX = "tokenizer.ggml.add_space_prefix";

    /** Token texts that end generation whatever the metadata says (as llama.cpp does). */
    static final List<String> END_OF_GENERATION_TEXTS = List.of(
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>",
            "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>");

    /** Token texts taken as the end-of-turn token when {@code tokenizer.ggml.eot_token_id} is absent, in order of preference. */
    private static final List<String> END_OF_TURN_TEXTS = List.of(
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<EOT>",
            "<｜end▁of▁sentence｜>");

    final String[] tokens;
    final float[] scores;
    final int[] types;
    final Map<String, Integer> tokenToId;
    final int bos;
    final int eos;
    final int eot;
    final int eom;
    final int unk;
    final int pad;
    final boolean addBos;
    final boolean addEos;
    final boolean addSpacePrefix;
    final boolean[] endOfGeneration;
    final SpecialTokenMatcher specials;
    final String modelName;
    /** Per token: {@link #LSTRIP} / {@link #RSTRIP} — whitespace around the special token is dropped when it is matched. */
    final byte[] strip;

    static final byte LSTRIP = 1;
    static final byte RSTRIP = 2;

    Vocabulary(String modelName, String[] tokens, float[] scores, int[] types, int bos, int eos, int eot, int eom,
               int unk, int pad, boolean addBos, boolean addEos, boolean addSpacePrefix) {
        this.modelName = modelName;
        int n = tokens.length;
        this.tokens = tokens.clone();
        this.scores = scores == null ? new float[n] : scores.clone();
        this.types = types == null ? filled(n, TokenType.NORMAL) : types.clone();
        this.tokenToId = new HashMap<>(n * 2);
        for (int i = 0; i < n; i++) {
            if (this.tokens[i] == null || this.tokens[i].isEmpty()) {
                this.tokens[i] = "[EMPTY_" + i + "]"; // as llama.cpp does
            }
            tokenToId.put(this.tokens[i], i); // a duplicated text maps to its last id, as in llama.cpp
        }
        // Tokens that end a turn are control tokens even where a converter forgot to mark them.
        this.endOfGeneration = new boolean[n];
        for (String text : END_OF_GENERATION_TEXTS) {
            Integer id = tokenToId.get(text);
            if (id != null) {
                endOfGeneration[id] = true;
                this.types[id] = TokenType.CONTROL;
            }
        }
        if (eot < 0) {
            for (String text : END_OF_TURN_TEXTS) {
                Integer id = tokenToId.get(text);
                if (id != null) {
                    eot = id;
                    break;
                }
            }
        }
        this.bos = bos;
        this.eos = eos;
        this.eot = eot;
        this.eom = eom < 0 ? tokenToId.getOrDefault("<|eom_id|>", -1) : eom;
        this.unk = unk;
        this.pad = pad;
        for (int id : new int[] {this.eos, this.eot, this.eom}) {
            if (id >= 0) {
                endOfGeneration[id] = true;
            }
        }
        this.addBos = addBos;
        this.addEos = addEos;
        this.addSpacePrefix = addSpacePrefix;
        this.strip = new byte[n];
        String lower = modelName.toLowerCase(java.util.Locale.ROOT);
        if (lower.contains("phi-3") || lower.contains("phi3")) {
            // as llama.cpp: Phi-3's special tokens swallow the whitespace after them (tokenizer.json rstrip)
            for (int i = 0; i < n; i++) {
                int t = this.types[i];
                if (t == TokenType.CONTROL || t == TokenType.USER_DEFINED || t == TokenType.UNKNOWN) {
                    strip[i] = RSTRIP;
                }
            }
            for (String text : new String[] {"<unk>", "<s>", "<|endoftext|>"}) {
                Integer id = tokenToId.get(text);
                if (id != null) {
                    strip[id] = 0;
                }
            }
        }
        this.specials = new SpecialTokenMatcher(this.tokens, this.types);
    }

    private static int[] filled(int n, int value) {
        int[] a = new int[n];
        Arrays.fill(a, value);
        return a;
    }

    /**
     * Reads the vocabulary. {@code spm} selects the defaults llama.cpp uses for SentencePiece models
     * (BOS 1, EOS 2, UNK 0, add BOS, add space prefix); byte-level BPE defaults to no BOS/EOS unless
     * given. {@code defaultAddBos} is the value used when {@code tokenizer.ggml.add_bos_token} is absent.
     */
    static Vocabulary fromGguf(GgufMetadata md, boolean spm, boolean defaultAddBos) {
        String name = md.has("general.name") && md.get("general.name") instanceof String s ? s : "model";
        String[] tokens = stringArray(md, KEY_TOKENS);
        int n = tokens.length;
        if (n == 0) {
            throw new TokenizerException(name + ": metadata key '" + KEY_TOKENS + "' is empty; the model has no vocabulary");
        }
        float[] scores = null;
        if (md.has(KEY_SCORES)) {
            try {
                scores = md.getFloatArray(KEY_SCORES);
            } catch (RuntimeException e) {
                throw new TokenizerException(name + ": metadata key '" + KEY_SCORES + "' is malformed: " + e.getMessage(), e);
            }
            if (scores.length != n) {
                throw new TokenizerException(name + ": metadata key '" + KEY_SCORES + "' has " + scores.length
                        + " entries but '" + KEY_TOKENS + "' has " + n + "; the vocabulary is malformed, re-convert the model");
            }
        }
        int[] types = null;
        if (md.has(KEY_TOKEN_TYPE)) {
            try {
                types = md.getIntArray(KEY_TOKEN_TYPE);
            } catch (RuntimeException e) {
                throw new TokenizerException(name + ": metadata key '" + KEY_TOKEN_TYPE + "' is malformed: " + e.getMessage(), e);
            }
            if (types.length != n) {
                throw new TokenizerException(name + ": metadata key '" + KEY_TOKEN_TYPE + "' has " + types.length
                        + " entries but '" + KEY_TOKENS + "' has " + n + "; the vocabulary is malformed, re-convert the model");
            }
        }
        int bos = tokenId(md, name, KEY_BOS, spm ? 1 : -1, n);
        int eos = tokenId(md, name, KEY_EOS, spm ? 2 : -1, n);
        int unk = tokenId(md, name, KEY_UNK, spm ? 0 : -1, n);
        int eot = tokenId(md, name, KEY_EOT, -1, n);
        int eom = tokenId(md, name, KEY_EOM, -1, n);
        int pad = md.has(KEY_PAD) ? optionalId(md, KEY_PAD, n) : -1;
        if (spm) {
            // the built-in defaults only apply where the vocabulary is large enough
            if (bos >= n) bos = -1;
            if (eos >= n) eos = -1;
            if (unk >= n) unk = -1;
        }
        boolean addBos = bool(md, name, KEY_ADD_BOS, defaultAddBos);
        boolean addEos = bool(md, name, KEY_ADD_EOS, false);
        boolean addSpacePrefix = bool(md, name, KEY_ADD_SPACE_PREFIX, spm);
        if (addBos && bos < 0) {
            throw new TokenizerException(name + ": the vocabulary asks for a BOS token ('" + KEY_ADD_BOS
                    + "') but has none ('" + KEY_BOS + "' missing)");
        }
        if (addEos && eos < 0) {
            throw new TokenizerException(name + ": the vocabulary asks for an EOS token ('" + KEY_ADD_EOS
                    + "') but has none ('" + KEY_EOS + "' missing)");
        }
        return new Vocabulary(name, tokens, scores, types, bos, eos, eot, eom, unk, pad, addBos, addEos, addSpacePrefix);
    }

    static String[] stringArray(GgufMetadata md, String key) {
        if (!md.has(key)) {
            throw new TokenizerException("metadata key '" + key + "' is missing; the GGUF file has no tokenizer vocabulary "
                    + "(was it converted without one?)");
        }
        try {
            return md.getStringArray(key);
        } catch (RuntimeException e) {
            throw new TokenizerException("metadata key '" + key + "' is malformed: " + e.getMessage(), e);
        }
    }

    private static int tokenId(GgufMetadata md, String name, String key, int defaultId, int n) {
        if (!md.has(key)) {
            return defaultId;
        }
        long id;
        try {
            id = md.getLong(key);
        } catch (RuntimeException e) {
            throw new TokenizerException(name + ": metadata key '" + key + "' is malformed: " + e.getMessage(), e);
        }
        if (id < 0 || id >= n) {
            throw new TokenizerException(name + ": metadata key '" + key + "' is " + id
                    + ", outside the vocabulary of " + n + " tokens; the vocabulary is malformed, re-convert the model");
        }
        return (int) id;
    }

    private static int optionalId(GgufMetadata md, String key, int n) {
        try {
            long id = md.getLong(key);
            return id >= 0 && id < n ? (int) id : -1;
        } catch (RuntimeException e) {
            return -1;
        }
    }

    private static boolean bool(GgufMetadata md, String name, String key, boolean defaultValue) {
        try {
            return md.getBoolean(key, defaultValue);
        } catch (RuntimeException e) {
            throw new TokenizerException(name + ": metadata key '" + key + "' is malformed: " + e.getMessage(), e);
        }
    }

    public int size() {
        return tokens.length;
    }

    public String token(int id) {
        return tokens[id];
    }

    public int type(int id) {
        return types[id];
    }

    public float score(int id) {
        return scores[id];
    }

    /** The id of a token text, or -1. */
    public int id(String text) {
        Integer id = tokenToId.get(text);
        return id == null ? -1 : id;
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}

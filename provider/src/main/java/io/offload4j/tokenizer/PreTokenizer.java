package io.offload4j.tokenizer;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into the pieces byte-level BPE encodes one by one, with the regular expressions of the
 * pre-tokenizer named by {@code tokenizer.ggml.pre} (as in llama.cpp and the models' tokenizer.json).
 * Several expressions are applied in turn, each to the pieces of the one before; text between matches
 * is kept as a piece of its own. The split works on the text's code points; the bytes are mapped only
 * afterwards. {@code \s} is Unicode White_Space, {@code \p{L}}/{@code \p{N}} the Unicode categories
 * (Java's tables, JDK 25: Unicode 16). Immutable.
 */
public final class PreTokenizer {

    /** GPT-2's expression (tokenizer.json adds {@code |\s+}, which keeping unmatched text amounts to). */
    static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

    /** Llama 3 (tiktoken cl100k-style): contractions, letters with one leading non-letter, digits by 1-3. */
    static final String LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** Qwen2: as Llama 3 but one digit per piece. */
    static final String QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+"
            + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** GPT-4o / o200k (also Llama 4): case-aware words with attached contractions. */
    static final String GPT4O = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
            + "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?"
            + "|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    /** Mistral Tekken: case-aware words, one digit per piece. */
    static final String TEKKEN = "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+"
            + "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*"
            + "|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private record Kind(String canonical, boolean ignoreMerges, boolean addBos, List<String> regexes) {}

    private static final Map<String, Kind> KINDS = new LinkedHashMap<>();

    private static void register(Kind kind, String... names) {
        for (String n : names) {
            KINDS.put(n, kind);
        }
    }

    static {
        register(new Kind("default", false, false, List.of("[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2, "\\p{N}+", "[0-9][0-9][0-9]")),
                "default");
        register(new Kind("gpt-2", false, false, List.of(GPT2)),
                "gpt-2", "gpt2", "phi-2", "mpt", "olmo", "jais", "roberta-bpe", "jina-es", "jina-de", "jina-v1-en",
                "jina-v2-es", "jina-v2-de", "jina-v2-code", "gigachat");
        register(new Kind("llama-bpe", true, true, List.of(LLAMA3)),
                "llama-bpe", "llama3", "llama-v3", "falcon3", "dbrx", "smaug-bpe");
        register(new Kind("qwen2", false, false, List.of(QWEN2)),
                "qwen2", "stablelm2", "megrez", "deepseek-r1-qwen");
        register(new Kind("smollm", false, false, List.of("\\p{N}", GPT2)),
                "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b");
        register(new Kind("gpt-4o", false, false, List.of(GPT4O)),
                "gpt-4o", "llama4");
        register(new Kind("tekken", true, true, List.of(TEKKEN)),
                "tekken");
    }

    /** Every accepted value of {@code tokenizer.ggml.pre}. */
    public static List<String> supportedNames() {
        return List.copyOf(KINDS.keySet());
    }

    private final String name;
    private final Kind kind;
    private final Pattern[] patterns;

    private PreTokenizer(String name, Kind kind) {
        this.name = name;
        this.kind = kind;
        this.patterns = kind.regexes().stream()
                .map(r -> Pattern.compile(r, Pattern.UNICODE_CHARACTER_CLASS))
                .toArray(Pattern[]::new);
    }

    /**
     * The pre-tokenizer of a {@code tokenizer.ggml.pre} value.
     *
     * @throws TokenizerException when the name is not supported (the message lists those that are)
     */
    public static PreTokenizer forName(String pre) {
        Kind k = KINDS.get(pre);
        if (k == null) {
            throw new TokenizerException("unsupported pre-tokenizer '" + pre + "' in metadata key '" + Vocabulary.KEY_PRE
                    + "'; supported: " + String.join(", ", KINDS.keySet()));
        }
        return new PreTokenizer(pre, k);
    }

    public String name() {
        return name;
    }

    /** The family this name belongs to ({@code gpt-2}, {@code llama-bpe}, {@code qwen2} ...). */
    public String canonicalName() {
        return kind.canonical();
    }

    /** Whole pieces that are vocabulary tokens are taken as they are, without merges (Llama 3). */
    boolean ignoreMerges() {
        return kind.ignoreMerges();
    }

    /** Whether models of this kind add BOS when the metadata does not say. */
    boolean addBosByDefault() {
        return kind.addBos();
    }

    /** The pieces of a text, in order, concatenating to it. */
    public List<String> split(String text) {
        List<String> out = new ArrayList<>();
        int[] bounds = bounds(text);
        for (int i = 0; i + 1 < bounds.length; i += 2) {
            out.add(text.substring(bounds[i], bounds[i + 1]));
        }
        return out;
    }

    /** The pieces as (start, end) pairs of char indices. */
    int[] bounds(String text) {
        IntList cur = new IntList();
        if (text.isEmpty()) {
            return new int[0];
        }
        cur.add(0);
        cur.add(text.length());
        for (Pattern p : patterns) {
            IntList next = new IntList(cur.size() * 2);
            Matcher m = p.matcher(text);
            for (int i = 0; i < cur.size(); i += 2) {
                int start = cur.get(i);
                int end = cur.get(i + 1);
                m.region(start, end); // opaque bounds: each piece is matched as a text of its own
                int pos = start;
                while (m.find()) {
                    int ms = m.start();
                    int me = m.end();
                    if (me == ms) {
                        continue; // none of our expressions match empty text; be safe
                    }
                    if (ms > pos) {
                        next.add(pos);
                        next.add(ms);
                    }
                    next.add(ms);
                    next.add(me);
                    pos = me;
                }
                if (pos < end) {
                    next.add(pos);
                    next.add(end);
                }
            }
            cur = next;
        }
        return cur.toArray();
    }

    @Override
    public String toString() {
        return "PreTokenizer[" + name + "]";
    }
}

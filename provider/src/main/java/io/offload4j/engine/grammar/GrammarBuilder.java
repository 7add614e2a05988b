package io.offload4j.engine.grammar;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Writes a context-free grammar over bytes, then compiles it into a {@link Grammar}. A rule has alternatives;
 * an alternative is a sequence of {@link Symbol}s: literal bytes, a byte class, another rule, or the body of a
 * JSON string. Repetition is written with right recursion ({@code list ::= "" | item list}); left recursion is
 * refused when the grammar is compiled.
 *
 * <pre>{@code
 * GrammarBuilder g = new GrammarBuilder();
 * GrammarBuilder.Rule digits = g.rule("digits");
 * digits.alt().alt(GrammarBuilder.chars('0', '9'), digits);
 * Grammar grammar = g.build(digits);
 * }</pre>
 */
public final class GrammarBuilder {

    /** A grammar symbol. */
    public sealed interface Symbol permits Literal, ByteClass, Rule, StringBody {}

    /** Exactly these bytes (one element per byte once compiled). */
    public record Literal(byte[] bytes) implements Symbol {}

    /** One byte out of a set ({@code bits}: 4 words of 64 bits, bit {@code b} set when byte {@code b} matches). */
    public record ByteClass(long[] bits) implements Symbol {
        boolean has(int b) {
            return (bits[b >>> 6] & (1L << (b & 63))) != 0;
        }
    }

    /**
     * The characters between the quotes of a JSON string: any sequence of valid UTF-8 characters except
     * {@code "}, {@code \} and control characters, plus JSON escapes ({@code \n}, {@code \u00e9} ...). The
     * matcher runs it natively (see {@link JsonStringBytes}) so that a token made of plain characters is
     * accepted without walking the grammar byte by byte.
     */
    public record StringBody() implements Symbol {}

    /** A rule of this builder; as a symbol it stands for a reference to the rule. */
    public static final class Rule implements Symbol {
        final int id;
        final String name;
        final List<List<Symbol>> alternatives = new ArrayList<>();

        private Rule(int id, String name) {
            this.id = id;
            this.name = name;
        }

        /** Adds an alternative: these symbols in sequence (none: the empty string). */
        public Rule alt(Symbol... symbols) {
            alternatives.add(List.of(symbols));
            return this;
        }

        /** Adds an alternative: these symbols in sequence. */
        public Rule alt(List<Symbol> symbols) {
            alternatives.add(List.copyOf(symbols));
            return this;
        }

        public String name() {
            return name;
        }
    }

    private final List<Rule> rules = new ArrayList<>();
    private final Set<String> controlTexts = new LinkedHashSet<>();

    /** A new rule without alternatives yet (add them with {@link Rule#alt}). */
    public Rule rule(String name) {
        Rule r = new Rule(rules.size(), name);
        rules.add(r);
        return r;
    }

    /**
     * Lets a control token whose text is {@code text} (e.g. Mistral's {@code [TOOL_CALLS]}) be generated where the
     * grammar expects that text; other control tokens are never allowed (their text does not reach the reply).
     */
    public GrammarBuilder allowControlToken(String text) {
        controlTexts.add(text);
        return this;
    }

    /** The UTF-8 bytes of {@code text}. */
    public static Literal literal(String text) {
        return new Literal(text.getBytes(StandardCharsets.UTF_8));
    }

    /** One byte in {@code [from, to]}. */
    public static ByteClass chars(int from, int to) {
        long[] bits = new long[4];
        for (int b = from; b <= to; b++) {
            bits[b >>> 6] |= 1L << (b & 63);
        }
        return new ByteClass(bits);
    }

    /** One of the given ASCII characters. */
    public static ByteClass anyOf(String asciiChars) {
        long[] bits = new long[4];
        for (int i = 0; i < asciiChars.length(); i++) {
            int b = asciiChars.charAt(i);
            if (b > 127) {
                throw new IllegalArgumentException("anyOf takes ASCII characters, got U+" + Integer.toHexString(b));
            }
            bits[b >>> 6] |= 1L << (b & 63);
        }
        return new ByteClass(bits);
    }

    public static StringBody stringBody() {
        return new StringBody();
    }

    /**
     * Compiles the grammar whose start symbol is {@code root}.
     *
     * @throws IllegalArgumentException for a rule without alternatives, a rule that derives no finite string, or
     *                                  left recursion
     */
    public Grammar build(Rule root) {
        for (Rule r : rules) {
            if (r.alternatives.isEmpty()) {
                throw new IllegalArgumentException("grammar rule '" + r.name + "' has no alternatives");
            }
        }
        List<Integer> kinds = new ArrayList<>();
        List<Integer> args = new ArrayList<>();
        List<long[]> classes = new ArrayList<>();
        Map<String, Integer> classIds = new HashMap<>();
        int[][] altStarts = new int[rules.size()][];
        for (Rule r : rules) {
            altStarts[r.id] = new int[r.alternatives.size()];
            for (int a = 0; a < r.alternatives.size(); a++) {
                altStarts[r.id][a] = kinds.size();
                for (Symbol s : r.alternatives.get(a)) {
                    switch (s) {
                        case Literal l -> {
                            for (byte b : l.bytes()) {
                                kinds.add(Grammar.CLASS);
                                args.add(classId(chars(b & 0xFF, b & 0xFF).bits(), classes, classIds));
                            }
                        }
                        case ByteClass c -> {
                            kinds.add(Grammar.CLASS);
                            args.add(classId(c.bits(), classes, classIds));
                        }
                        case Rule ref -> {
                            if (ref.id >= rules.size() || rules.get(ref.id) != ref) {
                                throw new IllegalArgumentException("grammar rule '" + r.name + "' refers to rule '"
                                        + ref.name + "' of another builder");
                            }
                            kinds.add(Grammar.RULE);
                            args.add(ref.id);
                        }
                        case StringBody sb -> {
                            kinds.add(Grammar.STRING_BODY);
                            args.add(0);
                        }
                    }
                }
                kinds.add(Grammar.END);
                args.add(0);
            }
        }
        String[] names = new String[rules.size()];
        for (Rule r : rules) {
            names[r.id] = r.name;
        }
        boolean[][] classBytes = new boolean[classes.size()][256];
        for (int c = 0; c < classes.size(); c++) {
            for (int b = 0; b < 256; b++) {
                classBytes[c][b] = (classes.get(c)[b >>> 6] & (1L << (b & 63))) != 0;
            }
        }
        return new Grammar(toArray(kinds), toArray(args), classBytes, altStarts, names, root.id,
                List.copyOf(controlTexts));
    }

    private static int classId(long[] bits, List<long[]> classes, Map<String, Integer> ids) {
        String key = Arrays.toString(bits);
        Integer id = ids.get(key);
        if (id == null) {
            id = classes.size();
            classes.add(bits.clone());
            ids.put(key, id);
        }
        return id;
    }

    private static int[] toArray(List<Integer> list) {
        int[] a = new int[list.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = list.get(i);
        }
        return a;
    }
}

package io.offload4j.engine.grammar;

import static io.offload4j.engine.grammar.GrammarBuilder.anyOf;
import static io.offload4j.engine.grammar.GrammarBuilder.chars;
import static io.offload4j.engine.grammar.GrammarBuilder.literal;

import io.offload4j.engine.grammar.GrammarBuilder.Rule;
import io.offload4j.engine.grammar.GrammarBuilder.Symbol;
import java.util.List;

/**
 * JSON as grammar rules, the pieces a JSON Schema is assembled from: any value, strings, numbers, objects with
 * declared properties, arrays, enumerations. The rules are written into a {@link GrammarBuilder}; shared pieces
 * (whitespace, the any-value rules) are made once per builder.
 *
 * <p>Choices made to keep replies useful and bounded: whitespace between tokens is at most
 * {@value #MAX_WHITESPACE} characters; an integer has at most {@value #MAX_INTEGER_DIGITS} digits (it fits a
 * Java {@code int}, which is what most schemas' integers are bound to); a number at most 15 digits before and
 * 15 after the point and an exponent of at most 2 digits (it fits a {@code double}); an object's declared
 * properties come in their declared order, each at most once, and no other property is written.
 */
public final class JsonGrammar {

    public static final int MAX_WHITESPACE = 16;
    public static final int MAX_INTEGER_DIGITS = 9;

    /** A declared property of an object: its name, the rule or symbol of its value, whether it must appear. */
    public record Property(String name, Symbol value, boolean required) {}

    private final GrammarBuilder b;
    private Rule ws;
    private Rule string;
    private Rule integer;
    private Rule number;
    private Rule bool;
    private Rule nul;
    private Rule value;
    private Rule object;
    private int names;

    public JsonGrammar(GrammarBuilder builder) {
        this.b = builder;
    }

    public GrammarBuilder builder() {
        return b;
    }

    /** A grammar of one JSON value of any kind, optionally after one space or newline. */
    public static Grammar anyValue() {
        GrammarBuilder b = new GrammarBuilder();
        JsonGrammar json = new JsonGrammar(b);
        return b.build(json.root(json.value()));
    }

    /** {@code root ::= ("" | " " | "\n") value}: a model may start its reply with a space or newline. */
    public Rule root(Symbol value) {
        Rule lead = b.rule("lead").alt().alt(literal(" ")).alt(literal("\n"));
        return b.rule("root").alt(lead, value);
    }

    /** Optional whitespace: at most {@value #MAX_WHITESPACE} spaces, tabs or newlines. */
    public Rule ws() {
        if (ws == null) {
            Rule tail = b.rule("ws" + MAX_WHITESPACE).alt();
            for (int k = MAX_WHITESPACE - 1; k >= 0; k--) {
                tail = b.rule(k == 0 ? "ws" : "ws" + k).alt().alt(anyOf(" \t\n"), tail);
            }
            ws = tail;
        }
        return ws;
    }

    /** Any JSON string. */
    public Rule string() {
        if (string == null) {
            string = b.rule("string").alt(literal("\""), GrammarBuilder.stringBody(), literal("\""));
        }
        return string;
    }

    /** An integer: optional minus, no leading zero, at most {@value #MAX_INTEGER_DIGITS} digits. */
    public Rule integer() {
        if (integer == null) {
            integer = b.rule("integer").alt(optional("minus", literal("-")), naturalNumber("int", MAX_INTEGER_DIGITS));
        }
        return integer;
    }

    /** A number: integer part, optional fraction, optional exponent. */
    public Rule number() {
        if (number == null) {
            Rule fraction = b.rule("fraction").alt().alt(literal("."), chars('0', '9'), digits("fracdigits", 14));
            Rule exponent = b.rule("exponent").alt()
                    .alt(anyOf("eE"), optional("expsign", anyOf("+-")), chars('0', '9'), digits("expdigits", 1));
            number = b.rule("number").alt(optional("minus", literal("-")), naturalNumber("num", 15), fraction, exponent);
        }
        return number;
    }

    public Rule bool() {
        if (bool == null) {
            bool = b.rule("boolean").alt(literal("true")).alt(literal("false"));
        }
        return bool;
    }

    public Rule nul() {
        if (nul == null) {
            nul = b.rule("null").alt(literal("null"));
        }
        return nul;
    }

    /** Any JSON value (objects and arrays of any values). */
    public Rule value() {
        if (value == null) {
            value = b.rule("value");
            Rule member = b.rule("member").alt(string(), ws(), literal(":"), ws(), value);
            object = objectOfMembers("object", member);
            Rule array = arrayOf(value);
            value.alt(object).alt(array).alt(string()).alt(number()).alt(bool()).alt(nul());
        }
        return value;
    }

    /** Any JSON object. */
    public Rule anyObject() {
        if (object == null) {
            value();
        }
        return object;
    }

    /** Exactly this string, as a JSON string literal. */
    public Rule constantString(String text) {
        return b.rule("const" + (++names)).alt(literal(quote(text)));
    }

    /** One of these strings. */
    public Rule enumOf(List<String> values) {
        if (values.isEmpty()) {
            throw new IllegalArgumentException("an enum needs at least one value");
        }
        Rule r = b.rule("enum" + (++names));
        for (String v : values) {
            r.alt(literal(quote(v)));
        }
        return r;
    }

    /** One of these. */
    public Rule oneOf(List<? extends Symbol> alternatives) {
        if (alternatives.isEmpty()) {
            throw new IllegalArgumentException("anyOf needs at least one alternative");
        }
        Rule r = b.rule("anyOf" + (++names));
        for (Symbol s : alternatives) {
            r.alt(s);
        }
        return r;
    }

    /** {@code [ item, item, ... ]}, possibly empty. */
    public Rule arrayOf(Symbol item) {
        int id = ++names;
        Rule more = b.rule("array" + id + "more");
        more.alt(literal("]")).alt(literal(","), ws(), item, ws(), more);
        Rule rest = b.rule("array" + id + "rest").alt(literal("]")).alt(item, ws(), more);
        return b.rule("array" + id).alt(literal("["), ws(), rest);
    }

    /**
     * An object with these properties in this order, each at most once, the required ones always; no other
     * property. Written as a chain: at property {@code i}, "nothing written yet" and "something written" (a comma
     * comes first) are separate rules, and an optional property may be skipped.
     */
    public Rule objectOf(List<Property> properties) {
        int id = ++names;
        int n = properties.size();
        Rule[] first = new Rule[n + 1]; // nothing written yet, at property i
        Rule[] later = new Rule[n + 1]; // something written, at property i
        first[n] = b.rule("object" + id + "end").alt(literal("}"));
        later[n] = first[n];
        for (int i = n - 1; i >= 0; i--) {
            Property p = properties.get(i);
            Rule member = b.rule("object" + id + "." + p.name())
                    .alt(literal(quote(p.name())), ws(), literal(":"), ws(), p.value());
            later[i] = b.rule("object" + id + "after" + i).alt(literal(","), ws(), member, ws(), later[i + 1]);
            first[i] = b.rule("object" + id + "at" + i).alt(member, ws(), later[i + 1]);
            if (!p.required()) {
                later[i].alt(later[i + 1]);
                first[i].alt(first[i + 1]);
            }
        }
        return b.rule("object" + id).alt(literal("{"), ws(), first[0]);
    }

    private Rule objectOfMembers(String name, Rule member) {
        int id = ++names;
        Rule more = b.rule(name + id + "more");
        more.alt(literal("}")).alt(literal(","), ws(), member, ws(), more);
        Rule rest = b.rule(name + id + "rest").alt(literal("}")).alt(member, ws(), more);
        return b.rule(name + id).alt(literal("{"), ws(), rest);
    }

    private Rule optional(String name, Symbol s) {
        return b.rule(name + (++names)).alt().alt(s);
    }

    /** {@code 0}, or a non-zero digit and up to {@code maxDigits - 1} more. */
    private Rule naturalNumber(String name, int maxDigits) {
        return b.rule(name + (++names)).alt(literal("0")).alt(chars('1', '9'), digits(name + "digits", maxDigits - 1));
    }

    /** Up to {@code max} digits. */
    private Rule digits(String name, int max) {
        int id = ++names;
        Rule tail = b.rule(name + id + "." + max).alt();
        for (int k = max - 1; k >= 0; k--) {
            tail = b.rule(name + id + "." + k).alt().alt(chars('0', '9'), tail);
        }
        return tail;
    }

    /** {@code text} as a JSON string literal (quotes, backslashes and control characters escaped). */
    public static String quote(String text) {
        StringBuilder out = new StringBuilder(text.length() + 2).append('"');
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\u%04x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}

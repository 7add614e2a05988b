package io.offload4j.chat;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Applies Jinja2's lexer-level rules to a template source and writes an equivalent template for Jinjava in which
 * all whitespace handling is already done. This is where Jinja2's whitespace semantics live, because Jinjava's
 * own {@code trim_blocks}/{@code lstrip_blocks} differ (it strips spaces before a tag even when other text
 * precedes it on the line, and strips the rendered output's trailing newline instead of the source's).
 *
 * <p>Jinja2 rules reproduced (as {@code jinja2.lexer.Lexer.tokeniter} implements them, with Hugging Face's
 * settings {@code trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False}):
 * <ul>
 *   <li>{@code \r\n} and {@code \r} become {@code \n}; one trailing newline of the source is dropped.</li>
 *   <li>{@code {%-}, {@code {{-}, {@code {#-} strip all whitespace before the tag; {@code -%}}, {@code -}}},
 *       {@code -#}} strip all whitespace after it.</li>
 *   <li>trim_blocks: a single {@code \n} right after {@code %}} or {@code #}} is dropped ({@code +%}} keeps it).</li>
 *   <li>lstrip_blocks: spaces and tabs between the start of a line and {@code {%} or {@code {#} are dropped
 *       ({@code {%+} keeps them); never before {@code {{}.</li>
 *   <li>Comments disappear; {@code {% raw %}} content is copied literally.</li>
 *   <li>Tag ends are found like Jinja2 finds them: outside string literals, and only once brackets are balanced
 *       (so {@code {{ {'a': {'b': 1}} }}} is one expression).</li>
 *   <li>String literals inside tags are decoded as Python decodes them and re-encoded with the escapes Jinjava
 *       knows; adjacent literals ({@code "a" "b"}) become one.</li>
 * </ul>
 * The output keeps every tag (without whitespace-control signs) and the final text. Newlines that the rules
 * remove are written into Jinjava comments instead, so each source line is the same line of the output and
 * Jinjava's line numbers are the source's; a table still maps lines back, for safety.
 */
final class Jinja2Lexer {

    /** The Jinjava-ready source and, per output line (0-based), the 1-based source line it came from. */
    record Translation(String source, int[] lineMap) {
        int sourceLine(int outputLine) {
            if (outputLine < 1 || lineMap.length == 0) {
                return -1;
            }
            return lineMap[Math.min(outputLine, lineMap.length) - 1];
        }
    }

    private static final Pattern RAW_BEGIN = Pattern.compile("\\{%([-+]?)\\s*raw\\s*(?:-%}\\s*|%})");
    private static final Pattern RAW_END =
            Pattern.compile("\\{%([-+]?)\\s*endraw\\s*(?:\\+%}|-%}\\s*|%}\\n?)", Pattern.DOTALL);
    private static final Pattern COMMENT_END = Pattern.compile("\\+#}|-#}\\s*|#}\\n?");
    private static final Pattern BLOCK_END = Pattern.compile("\\+%}|-%}\\s*|%}\\n?");
    private static final Pattern VARIABLE_END = Pattern.compile("-}}\\s*|}}");

    private final String name;
    private final String src;
    private final int[] lineStarts;
    private final StringBuilder out = new StringBuilder();
    private final IntList lineMap = new IntList();
    private boolean outAtLineStart = true;
    private boolean lineStarting = true;

    private Jinja2Lexer(String name, String source) {
        this.name = name;
        this.src = normalize(source);
        IntList starts = new IntList();
        starts.add(0);
        for (int i = 0; i < src.length(); i++) {
            if (src.charAt(i) == '\n') {
                starts.add(i + 1);
            }
        }
        this.lineStarts = starts.toArray();
    }

    static Translation translate(String name, String source) {
        Jinja2Lexer lexer = new Jinja2Lexer(name, source);
        lexer.run();
        return new Translation(lexer.out.toString(), lexer.lineMap.toArray());
    }

    /** Newlines normalised to \n, one trailing newline removed (keep_trailing_newline=False). */
    static String normalize(String source) {
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        return s.endsWith("\n") ? s.substring(0, s.length() - 1) : s;
    }

    private void run() {
        int pos = 0;
        int n = src.length();
        while (pos < n) {
            int start = nextTagStart(pos);
            if (start < 0) {
                emitText(pos, n);
                break;
            }
            char kind = src.charAt(start + 1);
            char sign = start + 2 < n ? src.charAt(start + 2) : 0;
            boolean hasSign = sign == '-' || sign == '+';
            Matcher raw = kind == '%' ? RAW_BEGIN.matcher(src).region(start, n) : null;
            boolean isRaw = raw != null && raw.lookingAt();

            int textEnd = textEnd(pos, start, hasSign ? sign : 0, kind != '{');
            emitText(pos, textEnd);
            dropped(textEnd, start);

            if (isRaw) {
                pos = raw(start, raw.end());
            } else if (kind == '#') {
                Matcher end = COMMENT_END.matcher(src).region(start + 2 + (hasSign ? 1 : 0), n);
                if (!end.find()) {
                    throw syntax(start, "missing end of comment tag ('#}')");
                }
                dropped(start, end.end());
                lineStarting = endsWithNewline(end.end());
                pos = end.end();
            } else {
                pos = tag(start, kind, start + 2 + (hasSign ? 1 : 0));
            }
        }
    }

    /** The next "{{", "{%" or "{#" at or after pos, or -1. */
    private int nextTagStart(int pos) {
        for (int i = src.indexOf('{', pos); i >= 0 && i + 1 < src.length(); i = src.indexOf('{', i + 1)) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    /**
     * Where the text before a tag ends once whitespace control is applied: "-" strips all trailing whitespace;
     * otherwise, for block and comment tags without "+", lstrip_blocks drops the spaces that precede the tag on its
     * line when nothing else does.
     */
    private int textEnd(int textStart, int tagStart, char sign, boolean lstripApplies) {
        int end = tagStart;
        if (sign == '-') {
            while (end > textStart) {
                int cp = src.codePointBefore(end);
                if (!Py.isSpace(cp)) {
                    break;
                }
                end -= Character.charCount(cp);
            }
        } else if (sign != '+' && lstripApplies) {
            int lineStart = src.lastIndexOf('\n', tagStart - 1) + 1;
            boolean newlineInText = lineStart > textStart;
            if (!newlineInText) {
                lineStart = textStart;
            }
            if ((newlineInText || lineStarting) && lineStart < tagStart && allSpace(lineStart, tagStart)) {
                end = lineStart;
            }
        }
        return end;
    }

    private boolean allSpace(int from, int to) {
        for (int i = from; i < to; ) {
            int cp = src.codePointAt(i);
            if (!Py.isSpace(cp)) {
                return false;
            }
            i += Character.charCount(cp);
        }
        return true;
    }

    private boolean endsWithNewline(int end) {
        return end > 0 && src.charAt(end - 1) == '\n';
    }

    /** {% raw %}...{% endraw %}: the content is written as literal text. Returns the position after endraw. */
    private int raw(int start, int contentStart) {
        lineStarting = endsWithNewline(contentStart);
        Matcher end = RAW_END.matcher(src).region(contentStart, src.length());
        if (!end.find()) {
            throw syntax(start, "missing end of raw directive ({% endraw %})");
        }
        String sign = end.group(1);
        int contentEnd = textEnd(contentStart, end.start(), sign.isEmpty() ? 0 : sign.charAt(0), true);
        dropped(start, contentStart);
        emitLiteral(contentStart, contentEnd);
        dropped(contentEnd, end.end());
        lineStarting = endsWithNewline(end.end());
        return end.end();
    }

    /**
     * A {@code {% ... %}} or {@code {{ ... }}}: finds its end as Jinja2's lexer does (outside strings, brackets
     * balanced), writes it without whitespace-control signs, and returns the position after it.
     */
    private int tag(int start, char kind, int innerStart) {
        Pattern endPattern = kind == '%' ? BLOCK_END : VARIABLE_END;
        Matcher end = endPattern.matcher(src);
        Deque<Character> brackets = new ArrayDeque<>();
        int q = innerStart;
        int n = src.length();
        while (true) {
            if (q >= n) {
                throw syntax(start, "unexpected end of template: '" + (kind == '%' ? "{%" : "{{")
                        + "' is never closed (expected '" + (kind == '%' ? "%}" : "}}") + "')");
            }
            if (brackets.isEmpty() && end.region(q, n).lookingAt()) {
                emitTag(kind, start, innerStart, q);
                dropped(q, end.end());
                lineStarting = endsWithNewline(end.end());
                return end.end();
            }
            char c = src.charAt(q);
            if (c == '\'' || c == '"') {
                q = stringEnd(q);
            } else if (c == '(' || c == '[' || c == '{') {
                brackets.push(c == '(' ? ')' : c == '[' ? ']' : '}');
                q++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (brackets.isEmpty()) {
                    throw syntax(q, "unexpected '" + c + "'");
                }
                char expected = brackets.pop();
                if (expected != c) {
                    throw syntax(q, "unexpected '" + c + "', expected '" + expected + "'");
                }
                q++;
            } else {
                q++;
            }
        }
    }

    /** Index after the string literal starting at q (a quote); backslash escapes any character. */
    private int stringEnd(int q) {
        char quote = src.charAt(q);
        for (int i = q + 1; i < src.length(); i++) {
            char c = src.charAt(i);
            if (c == '\\') {
                i++;
            } else if (c == quote) {
                return i + 1;
            }
        }
        throw syntax(q, "unterminated string literal (" + quote + " never closed)");
    }

    private void emitTag(char kind, int start, int innerStart, int innerEnd) {
        // a space after the opening and before the closing delimiter, unless the tag has whitespace there: no
        // '-' can then be read as whitespace control, and a final '}' never touches the closing "}}"
        boolean padStart = innerStart == innerEnd || !Character.isWhitespace(src.charAt(innerStart));
        boolean padEnd = innerStart == innerEnd || !Character.isWhitespace(src.charAt(innerEnd - 1));
        emitSynthetic(kind == '%' ? (padStart ? "{% " : "{%") : (padStart ? "{{ " : "{{"), start);
        int last = innerStart;
        for (int i = innerStart; i < innerEnd; i++) {
            char c = src.charAt(i);
            if (c == '\'' || c == '"') {
                // adjacent literals are one string in Jinja2 ("a" "b" is "ab"), as in Python
                List<int[]> literals = new ArrayList<>();
                int close = stringEnd(i);
                literals.add(new int[] {i, close});
                for (int j = close; ; ) {
                    while (j < innerEnd && Character.isWhitespace(src.charAt(j))) {
                        j++;
                    }
                    if (j < innerEnd && (src.charAt(j) == '\'' || src.charAt(j) == '"')) {
                        close = stringEnd(j);
                        literals.add(new int[] {j, close});
                        j = close;
                    } else {
                        break;
                    }
                }
                emitVerbatim(last, i);
                emitStrings(literals);
                last = close;
                i = close - 1;
            } else if (kind == '{' && c == '}' && i + 1 < innerEnd && src.charAt(i + 1) == '}') {
                // Jinjava's scanner ends a {{ }} at the first "}}" outside quotes; Jinja2 at the first with
                // brackets balanced. A space between two closing braces keeps nested dict literals together.
                emitVerbatim(last, i + 1);
                emitSynthetic(" ", i + 1);
                last = i + 1;
            }
        }
        emitVerbatim(last, innerEnd);
        emitSynthetic(kind == '%' ? (padEnd ? " %}" : "%}") : (padEnd ? " }}" : "}}"), innerEnd);
    }

    /**
     * A string literal, re-encoded for Jinjava: Jinja2 decodes literals like Python's {@code unicode_escape}
     * ({@code \u00e9}, {@code \x41}, octal, {@code \N{...}}, unknown escapes kept as written), Jinjava only knows
     * {@code \\ \' \" \n \t \r \b \f} and rejects the rest.
     */
    private void emitStrings(List<int[]> literals) {
        int open = literals.get(0)[0];
        int close = literals.get(literals.size() - 1)[1];
        if (literals.size() == 1 && src.substring(open + 1, close - 1).indexOf('\\') < 0) {
            emitVerbatim(open, close);
            return;
        }
        StringBuilder decoded = new StringBuilder();
        for (int[] l : literals) {
            decoded.append(decodePythonEscapes(src.substring(l[0] + 1, l[1] - 1), l[0]));
        }
        String body = src.substring(open + 1, close - 1);
        char quote = src.charAt(open);
        String value = decoded.toString();
        StringBuilder sb = new StringBuilder().append(quote);
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            switch (c) {
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\t' -> sb.append("\\t");
                case '\r' -> sb.append("\\r");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c == quote) {
                        sb.append('\\');
                    }
                    sb.append(c);
                }
            }
        }
        sb.append(quote);
        // The literal's own line breaks follow it as whitespace, so the output keeps the source's line structure.
        int line = lineOf(open);
        for (int i = 0; i < sb.length(); i++) {
            put(sb.charAt(i), line);
        }
        for (int i = 0; i < body.length(); i++) {
            if (body.charAt(i) == '\n') {
                put('\n', ++line);
            }
        }
    }

    /** Python's unicode_escape decoding of a literal's body (what Jinja2's lexer applies to strings). */
    private String decodePythonEscapes(String s, int literalPos) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 >= s.length()) {
                sb.append(c);
                continue;
            }
            char e = s.charAt(++i);
            switch (e) {
                case '\n' -> { } // line continuation
                case '\\', '\'', '"' -> sb.append(e);
                case 'a' -> sb.append('\u0007');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'v' -> sb.append('\u000b');
                case 'x', 'u', 'U' -> {
                    int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    String hex = s.substring(i + 1, Math.min(s.length(), i + 1 + digits));
                    if (hex.length() != digits || !hex.matches("[0-9a-fA-F]+")) {
                        throw syntax(literalPos, "truncated \\" + e + " escape in string literal");
                    }
                    int cp = Integer.parseInt(hex, 16);
                    if (!Character.isValidCodePoint(cp)) {
                        throw syntax(literalPos, "illegal Unicode character \\" + e + hex + " in string literal");
                    }
                    sb.appendCodePoint(cp);
                    i += digits;
                }
                case 'N' -> {
                    int close = s.indexOf('}', i);
                    if (i + 1 >= s.length() || s.charAt(i + 1) != '{' || close < 0) {
                        throw syntax(literalPos, "malformed \\N character escape in string literal");
                    }
                    try {
                        sb.appendCodePoint(Character.codePointOf(s.substring(i + 2, close)));
                    } catch (IllegalArgumentException ex) {
                        throw syntax(literalPos, "unknown Unicode character name in string literal: "
                                + s.substring(i + 2, close));
                    }
                    i = close;
                }
                default -> {
                    if (e >= '0' && e <= '7') {
                        int j = i;
                        while (j < s.length() && j < i + 3 && s.charAt(j) >= '0' && s.charAt(j) <= '7') {
                            j++;
                        }
                        sb.append((char) Integer.parseInt(s.substring(i, j), 8));
                        i = j - 1;
                    } else {
                        sb.append('\\').append(e); // unknown escapes are kept as written
                    }
                }
            }
        }
        return sb.toString();
    }

    /**
     * Source text that produces no output (stripped whitespace, comments, delimiters). Its newlines are kept in a
     * Jinjava comment so that every line of the output is the same line of the source, for error messages.
     */
    private void dropped(int from, int to) {
        int newlines = 0;
        for (int i = from; i < to; i++) {
            if (src.charAt(i) == '\n') {
                newlines++;
            }
        }
        if (newlines > 0) {
            emitSynthetic("{#", from);
            int line = lineOf(from);
            for (int i = 0; i < newlines; i++) {
                put('\n', line + i);
            }
            emitSynthetic("#}", to);
        }
    }

    /** Plain template text between tags. */
    private void emitText(int from, int to) {
        if (from >= to) {
            return;
        }
        // A text ending in '{' right before a tag would read as "{{" or "{%" to Jinjava: print that brace.
        if (src.charAt(to - 1) == '{') {
            emitVerbatim(from, to - 1);
            emitSynthetic("{{ '{' }}", to - 1);
        } else {
            emitVerbatim(from, to);
        }
    }

    /** Raw-block content: anything that Jinjava could read as a tag is printed through an expression. */
    private void emitLiteral(int from, int to) {
        int last = from;
        for (int i = from; i < to; i++) {
            char c = src.charAt(i);
            if (c == '{' && (i + 1 == to || "{%#".indexOf(src.charAt(i + 1)) >= 0)) {
                emitVerbatim(last, i);
                emitSynthetic("{{ '{' }}", i);
                last = i + 1;
            }
        }
        emitVerbatim(last, to);
    }

    private void emitVerbatim(int from, int to) {
        int line = lineOf(from);
        for (int i = from; i < to; i++) {
            char c = src.charAt(i);
            put(c, line);
            if (c == '\n') {
                line++;
            }
        }
    }

    private void emitSynthetic(String s, int srcPos) {
        int line = lineOf(srcPos);
        for (int i = 0; i < s.length(); i++) {
            put(s.charAt(i), line);
        }
    }

    private void put(char c, int line) {
        if (outAtLineStart) {
            lineMap.add(line);
            outAtLineStart = false;
        }
        out.append(c);
        if (c == '\n') {
            outAtLineStart = true;
        }
    }

    /** 1-based line of a position in the normalised source. */
    private int lineOf(int pos) {
        int lo = 0;
        int hi = lineStarts.length - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (lineStarts[mid] <= pos) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo + 1;
    }

    private TemplateException syntax(int pos, String message) {
        return new TemplateException(TemplateException.Kind.SYNTAX, name, lineOf(pos), message, null);
    }

    /** A growable int array. */
    static final class IntList {
        private int[] a = new int[64];
        private int size;

        void add(int v) {
            if (size == a.length) {
                a = java.util.Arrays.copyOf(a, size * 2);
            }
            a[size++] = v;
        }

        int[] toArray() {
            return java.util.Arrays.copyOf(a, size);
        }
    }
}

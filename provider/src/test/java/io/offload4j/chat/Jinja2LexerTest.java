package io.offload4j.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The whitespace/lexing translation from Jinja2 source to Jinjava source. */
class Jinja2LexerTest {

    private static String translate(String source) {
        return Jinja2Lexer.translate("t", source).source();
    }

    @Test
    void appliesWhitespaceControlBeforeJinjavaSeesTheTemplate() {
        assertEquals("a{% if true %}b{% endif %}c", translate("a  {%- if true -%}  b  {%- endif -%}  c"));
        // lstrip_blocks only at the start of a line; trim_blocks drops one newline after %}
        assertEquals("x {% if true %}y{% endif %}", translate("x {% if true %}y{% endif %}"));
        assertEquals("{% if true %}{#\n#}  x\n{% endif %}{#\n#}end", translate("  {% if true %}\n  x\n  {% endif %}\nend"));
        // {{ }} is never lstripped and keeps the newline after it
        assertEquals("  {{ 'c' }}\nz", translate("  {{ 'c' }}\nz"));
        // comments disappear, their line breaks are kept inside a Jinjava comment
        assertEquals("{#\n\n#}ab", translate("{# one\ntwo #}\na{#- x -#}  b"));
        // one trailing newline (of any kind) is dropped, CRLF becomes LF
        assertEquals("a\nb\n", translate("a\r\nb\r\n\r\n"));
    }

    @Test
    void keepsEverySourceLineOnTheSameOutputLine() {
        for (ChatFormat f : ChatFormat.values()) {
            if (f.templateSource() == null) {
                continue;
            }
            String source = Jinja2Lexer.normalize(f.templateSource());
            Jinja2Lexer.Translation t = Jinja2Lexer.translate(f.name(), f.templateSource());
            assertEquals(source.split("\n", -1).length, t.source().split("\n", -1).length, f.name());
            for (int line = 1; line <= source.split("\n", -1).length; line++) {
                assertEquals(line, t.sourceLine(line), f.name() + " line " + line);
            }
        }
    }

    @Test
    void findsTagEndsLikeJinja2() {
        // nested dict literal: "}}" inside the expression does not end it
        assertEquals("{{ {'a': {'b': 1} } }}", translate("{{ {'a': {'b': 1}} }}"));
        // delimiters inside strings
        assertEquals("{{ '}}' }}{% if '%}' %}{% endif %}", translate("{{ '}}' }}{% if '%}' %}{% endif %}"));
        // raw blocks are copied literally, with tag starts printed through an expression
        assertEquals("{{ '{' }}{ x }}{{ '{' }}% y %}", translate("{% raw %}{{ x }}{% y %}{% endraw %}"));
        // a text ending in "{" right before a tag
        assertEquals("{{ '{' }}{% if true %}{% endif %}", translate("{ {%- if true %}{% endif %}"));
    }

    @Test
    void decodesStringLiteralsLikePython() {
        assertEquals("{{ 'é\\tA\\\\d' }}", translate("{{ '\\u00e9\\x09\\x41\\d' }}"));
        assertEquals("{{ \"q\\\"\" }}", translate("{{ \"q\\\"\" }}"));
        assertEquals("{{ 'plain' }}", translate("{{ 'plain' }}"));
    }

    @Test
    void reportsLexicalErrorsWithLines() {
        for (var c : List.of(new String[] {"a\n{{ x", "2"}, new String[] {"a\n\n{# x", "3"},
                new String[] {"{{ 'x }}", "1"}, new String[] {"\n{{ x) }}", "2"},
                new String[] {"{% raw %}x", "1"})) {
            TemplateException e = assertThrows(TemplateException.class, () -> translate(c[0]));
            assertEquals(TemplateException.Kind.SYNTAX, e.kind());
            assertEquals(Integer.parseInt(c[1]), e.line(), c[0]);
            assertTrue(e.getMessage().contains("'t'"), e::getMessage);
        }
    }
}

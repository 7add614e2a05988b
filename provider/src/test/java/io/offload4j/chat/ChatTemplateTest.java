package io.offload4j.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Clock;
import java.time.Instant;
import java.time.ZoneId;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** The public API: compile errors, raised errors, render errors, variables, clock, thread safety. */
class ChatTemplateTest {

    private static TemplateException syntaxError(String source) {
        TemplateException e = assertThrows(TemplateException.class, () -> ChatTemplate.compile("my-model", source));
        assertEquals(TemplateException.Kind.SYNTAX, e.kind(), e::getMessage);
        assertEquals("my-model", e.templateName());
        assertTrue(e.getMessage().contains("my-model"), e::getMessage);
        return e;
    }

    @Test
    void syntaxErrorsNameTemplateLineAndProblem() {
        TemplateException missingEnd = syntaxError("line1\n{% if x %}\nno end");
        assertEquals(2, missingEnd.line());
        assertTrue(missingEnd.getMessage().contains("endif"), missingEnd::getMessage);

        TemplateException unclosed = syntaxError("a\nb {{ x");
        assertEquals(2, unclosed.line());
        assertTrue(unclosed.getMessage().contains("never closed"), unclosed::getMessage);

        TemplateException badExpression = syntaxError("ok\n\n{{ a + }}");
        assertEquals(3, badExpression.line());
        assertTrue(badExpression.getMessage().contains("a +"), badExpression::getMessage);

        TemplateException unknownTag = syntaxError("x\n{% frobnicate %}");
        assertEquals(2, unknownTag.line());
        assertTrue(unknownTag.getMessage().contains("frobnicate"), unknownTag::getMessage);

        TemplateException unknownFilter = syntaxError("a\n{{ x | nope }}");
        assertEquals(2, unknownFilter.line());
        assertTrue(unknownFilter.getMessage().contains("no filter named 'nope'"), unknownFilter::getMessage);

        TemplateException unknownTest = syntaxError("{{ x is frob }}");
        assertTrue(unknownTest.getMessage().contains("no test named 'frob'"), unknownTest::getMessage);
        // as in Jinja2, inside an if it only fails when it runs
        ChatTemplate guarded = ChatTemplate.compile("{% if x %}{{ x is frob }}{% endif %}{% if y %}{{ y|nope }}{% endif %}");
        assertEquals("", guarded.render(Map.of()), "never reached: no error");
        TemplateException late = assertThrows(TemplateException.class, () -> guarded.render(Map.of("x", 1)));
        assertEquals(TemplateException.Kind.RENDER, late.kind());
        assertTrue(late.getMessage().contains("No test named 'frob'"), late::getMessage);

        assertTrue(syntaxError("{# never").getMessage().contains("comment"));
        assertTrue(syntaxError("{{ 'abc }}").getMessage().contains("unterminated string"));
        assertTrue(syntaxError("{{ (a ]}}").getMessage().contains("unexpected ']'"));
        assertTrue(syntaxError("{% for x %}{% endfor %}").getMessage().contains("'in'"));
        assertTrue(syntaxError("{% endif %}").getMessage().contains("endif"));
        assertTrue(syntaxError("{% if x %}{% endfor %}").getMessage().contains("endif"));
        assertTrue(syntaxError("{{ '\\x4' }}").getMessage().contains("\\x"));
        // templates cannot pull in other templates or classpath resources
        assertTrue(syntaxError("{% include 'META-INF/MANIFEST.MF' %}").getMessage().contains("include"));
        assertTrue(syntaxError("{% import 'x' as y %}").getMessage().contains("import"));
    }

    @Test
    void lineNumbersSurviveWhitespaceControl() {
        // every line is stripped away by "-" markers; the error must still point at line 6
        String source = "{%- if true -%}\n\n{#- comment\nover lines -#}\n   {%- set x = 1 -%}\n{{- x + }}{% endif %}";
        assertEquals(6, syntaxError(source).line());
    }

    @Test
    void raiseExceptionCarriesTheTemplatesMessage() {
        ChatTemplate t = ChatTemplate.compile("strict", "ok\n{% if messages|length > 1 %}\n"
                + "{{ raise_exception('Only one message, got ' ~ messages|length) }}\n{% endif %}done");
        assertEquals("ok\ndone", t.render(Map.of("messages", List.of("a"))));
        TemplateException e = assertThrows(TemplateException.class,
                () -> t.render(Map.of("messages", List.of("a", "b"))));
        assertEquals(TemplateException.Kind.RAISED, e.kind());
        assertEquals("Only one message, got 2", e.templateMessage());
        assertEquals(3, e.line());
        assertTrue(e.getMessage().contains("'strict'") && e.getMessage().contains("Only one message, got 2"),
                e::getMessage);
    }

    @Test
    void renderErrorsStopTheRender() {
        TemplateException mutate = assertThrows(TemplateException.class, () -> ChatTemplate
                .compile("sandbox", "a\n\n{{ messages.append(1) }}").render(Map.of("messages", new ArrayList<>())));
        assertEquals(TemplateException.Kind.RENDER, mutate.kind());
        assertEquals(3, mutate.line());
        assertTrue(mutate.getMessage().contains("unsafe"), mutate::getMessage);

        TemplateException breakOutside = assertThrows(TemplateException.class,
                () -> ChatTemplate.compile("{% break %}").render(Map.of()));
        assertTrue(breakOutside.getMessage().contains("outside of a for loop"), breakOutside::getMessage);

        TemplateException notIterable = assertThrows(TemplateException.class,
                () -> ChatTemplate.compile("{% for m in 5 %}{% endfor %}").render(Map.of()));
        assertTrue(notIterable.getMessage().contains("not iterable"), notIterable::getMessage);

        TemplateException recursion = assertThrows(TemplateException.class, () -> ChatTemplate
                .compile("{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}").render(Map.of()));
        assertTrue(recursion.getMessage().contains("recursion"), recursion::getMessage);

        TemplateException unknownFunction = assertThrows(TemplateException.class,
                () -> ChatTemplate.compile("{{ nope(1) }}").render(Map.of()));
        assertTrue(unknownFunction.getMessage().contains("nope"), unknownFunction::getMessage);
    }

    @Test
    void typedRenderPassesTheStandardVariables() {
        ChatTemplate t = ChatTemplate.compile("{{ bos_token }}{% for m in messages %}[{{ m.role }}:{{ m.content }}]"
                + "{% endfor %}{{ tools is defined }}{{ tools | length if tools is defined }}"
                + "{% if add_generation_prompt %}>{% endif %}{{ eos_token }}");
        List<Map<String, Object>> messages = List.of(Map.of("role", "user", "content", "hi"));
        assertEquals("<s>[user:hi]False></s>", t.render(messages, null, true, "<s>", "</s>"));
        assertEquals("[user:hi]True0", t.render(messages, List.of(), false, null, null));
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("messages", messages);
        vars.put("add_generation_prompt", true);
        vars.put("bos_token", "<s>");
        vars.put("eos_token", "</s>");
        assertEquals(t.render(vars), t.render(messages, null, true, "<s>", "</s>"));
    }

    record Message(String role, String content) {}

    @Test
    void acceptsJavaObjectsAndNeverChangesTheCallersValues() {
        ChatTemplate t = ChatTemplate.compile("{% for m in messages %}{{ m.role }}={{ m.content }};{% endfor %}"
                + "{% set ns = namespace(n=0) %}{% set ns.n = 5 %}{{ ns.n }}");
        assertEquals("user=hi;assistant=yo;5", t.render(Map.of("messages",
                List.of(new Message("user", "hi"), new Message("assistant", "yo")))));

        List<Map<String, Object>> messages = new ArrayList<>();
        messages.add(new LinkedHashMap<>(Map.of("role", "user", "content", "x")));
        String before = messages.toString();
        assertThrows(TemplateException.class, () -> ChatTemplate.compile("{{ messages[0].update({'role': 'evil'}) }}")
                .render(Map.of("messages", messages)));
        assertEquals(before, messages.toString());

        assertThrows(IllegalArgumentException.class, () -> t.render(Map.of("messages", List.of(new Object()))));
    }

    @Test
    void userTextIsNeverEvaluated() {
        ChatTemplate t = ChatTemplate.compile("{% for m in messages %}{{ m.content }}|{% endfor %}");
        String content = "{{ 7 * 7 }} {% if true %}x{% endif %} {# c #} \\n '\"";
        assertEquals(content + "|", t.render(Map.of("messages", List.of(Map.of("content", content)))));
    }

    @Test
    void strftimeNowUsesTheInjectedClockAndZone() {
        ChatTemplate t = ChatTemplate.compile("{{ strftime_now('%d %b %Y %H:%M') }}");
        Clock clock = Clock.fixed(Instant.parse("2026-11-25T23:30:00Z"), ZoneId.of("Europe/Berlin"));
        assertEquals("26 Nov 2026 00:30", t.withClock(clock).render(Map.of()));
        assertEquals("25 Nov 2026 23:30",
                t.withClock(Clock.fixed(Instant.parse("2026-11-25T23:30:00Z"), ZoneId.of("UTC"))).render(Map.of()));
    }

    @Test
    void rendersConcurrentlyWithTheSameResults() throws Exception {
        ChatTemplate t = ChatTemplates.builtIn(ChatFormat.LLAMA3);
        ChatTemplate loops = ChatTemplate.compile("{% set ns = namespace(n=0) %}{% for m in messages %}"
                + "{% if loop.index is even %}{% continue %}{% endif %}{% set ns.n = ns.n + 1 %}{{ m.content }}"
                + "{% endfor %}/{{ ns.n }}");
        int threads = 8;
        int rounds = 200;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<?>> futures = new ArrayList<>();
            for (int th = 0; th < threads; th++) {
                int id = th;
                futures.add(pool.submit(() -> {
                    for (int r = 0; r < rounds; r++) {
                        List<Map<String, Object>> messages = new ArrayList<>();
                        int n = 1 + (id + r) % 5;
                        StringBuilder odd = new StringBuilder();
                        for (int i = 0; i < n; i++) {
                            messages.add(Map.of("role", i % 2 == 0 ? "user" : "assistant", "content", id + "-" + i));
                            if (i % 2 == 0) {
                                odd.append(id).append('-').append(i);
                            }
                        }
                        String out = t.render(messages, null, true, "", "");
                        assertTrue(out.contains(id + "-" + (n - 1) + "<|eot_id|>"), out);
                        assertEquals(odd + "/" + ((n + 1) / 2), loops.render(Map.of("messages", messages)));
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get(60, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void pythonValuesPrintAsPythonPrintsThem() {
        Map<String, Object> vars = new LinkedHashMap<>();
        vars.put("flag", true);
        vars.put("f", 2.0);
        vars.put("big", 1e22);
        vars.put("list", List.of("a", 1L, false));
        vars.put("dict", Map.of("k", List.of()));
        assertEquals("True 2.0 1e+22 ['a', 1, False] {'k': []}",
                ChatTemplate.compile("{{ flag }} {{ f }} {{ big }} {{ list }} {{ dict }}").render(vars));
    }
}

package io.offload4j.chat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * The 48 reference renderings in {@code shared/templates/expected-renderings.json} (8 real templates x 6
 * conversations, made with Jinja2 configured as Hugging Face configures it): each must match byte for byte, and
 * each expected error must surface as a {@link TemplateException} carrying the template's own message.
 */
class ExpectedRenderingsTest {

    /** The date the reference renderings were made with ({@code strftime_now} returns 25 Nov 2026). */
    static final Clock REFERENCE_CLOCK = Clock.fixed(Instant.parse("2026-11-25T12:00:00Z"), ZoneOffset.UTC);

    private final Map<String, ChatTemplate> compiled = new ConcurrentHashMap<>();

    @TestFactory
    Stream<DynamicTest> referenceRenderings() throws IOException {
        Path expected = SharedData.require("templates/expected-renderings.json");
        Path dir = expected.getParent();
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> cases = new ObjectMapper().readValue(expected.toFile(), List.class);
        assertEquals(48, cases.size(), "expected-renderings.json should hold 48 cases");
        return cases.stream().map(c -> DynamicTest.dynamicTest(c.get("template") + "/" + c.get("case"),
                () -> check(dir, c)));
    }

    @SuppressWarnings("unchecked")
    private void check(Path dir, Map<String, Object> c) {
        String name = (String) c.get("template");
        ChatTemplate template = compiled.computeIfAbsent(name, n -> {
            try {
                return ChatTemplate.compile(n, Files.readString(dir.resolve(n))).withClock(REFERENCE_CLOCK);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
        Map<String, Object> variables = (Map<String, Object>) c.get("variables");
        if (c.containsKey("expected")) {
            assertEquals(c.get("expected"), template.render(variables));
        } else {
            String error = (String) c.get("error");
            String message = error.startsWith("TemplateError: ") ? error.substring("TemplateError: ".length()) : error;
            TemplateException e = assertThrows(TemplateException.class, () -> template.render(variables));
            assertEquals(TemplateException.Kind.RAISED, e.kind(), e::getMessage);
            assertEquals(message, e.templateMessage());
            assertTrue(e.getMessage().contains(message), e::getMessage);
            assertTrue(e.getMessage().contains(name), () -> "message should name the template: " + e.getMessage());
        }
    }
}

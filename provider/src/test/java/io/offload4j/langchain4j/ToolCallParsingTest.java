package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Tool calls in the formats of the shared templates, from fixed model outputs, whole and streamed. */
class ToolCallParsingTest {

    private static final Set<String> TOOLS = Set.of("get_weather", "get_time");

    /** Feeds the reply in small pieces (as tokens arrive) and returns what was streamed and the final reply. */
    private static Result stream(ToolCallFormat format, String... pieces) {
        ReplyAssembler a = new ReplyAssembler(format, TOOLS);
        StringBuilder shown = new StringBuilder();
        for (String p : pieces) {
            shown.append(a.accept(p));
        }
        ReplyAssembler.Reply reply = a.finish();
        shown.append(reply.remainder());
        return new Result(shown.toString(), reply);
    }

    /** Splits text into pieces of three characters, like a tokenizer would cut it somewhere. */
    private static String[] pieces(String text) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < text.length(); i += 3) {
            out.add(text.substring(i, Math.min(text.length(), i + 3)));
        }
        return out.toArray(String[]::new);
    }

    private record Result(String shown, ReplyAssembler.Reply reply) {
        List<ToolExecutionRequest> calls() {
            return reply.toolCalls();
        }

        String text() {
            return reply.text();
        }
    }

    private static void assertCall(ToolExecutionRequest call, String name, String arguments) {
        assertThat(call.name()).isEqualTo(name);
        assertThat(call.arguments()).isEqualTo(arguments);
        assertThat(call.id()).matches("[A-Za-z0-9]{9}");
    }

    @Test
    void hermesAndQwenToolCallBlocks() {
        Result r = stream(ToolCallFormat.HERMES, pieces("<tool_call>\n{\"name\": \"get_weather\", \"arguments\":"
                + " {\"city\": \"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\":"
                + " {\"country\": \"France\"}}\n</tool_call>"));
        assertThat(r.calls()).hasSize(2);
        assertCall(r.calls().get(0), "get_weather", "{\"city\":\"Paris\"}");
        assertCall(r.calls().get(1), "get_time", "{\"country\":\"France\"}");
        assertThat(r.calls().get(0).id()).isNotEqualTo(r.calls().get(1).id());
        assertThat(r.text()).isNull();
        assertThat(r.shown()).isEmpty();
    }

    @Test
    void textBeforeAHermesCallIsStreamedAndTheCallIsNot() {
        Result r = stream(ToolCallFormat.HERMES, pieces("Let me check.\n\n<tool_call>\n{\"name\": \"get_weather\","
                + " \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"));
        assertThat(r.text()).isEqualTo("Let me check.");
        assertThat(r.shown()).isEqualTo("Let me check.");
        assertCall(r.calls().get(0), "get_weather", "{\"city\":\"Paris\"}");
    }

    @Test
    void aHermesCallCutOffBeforeItsClosingTagStillCounts() {
        Result r = stream(ToolCallFormat.HERMES, "<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}");
        assertCall(r.calls().get(0), "get_time", "{}");
    }

    @Test
    void aMalformedCallIsReleasedAsText() {
        String reply = "Sure: <tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": ";
        Result r = stream(ToolCallFormat.HERMES, pieces(reply));
        assertThat(r.calls()).isEmpty();
        assertThat(r.text()).isEqualTo(reply);
        assertThat(r.shown()).isEqualTo(reply);
    }

    @Test
    void plainTextWithoutCallsStreamsWhole() {
        String reply = "The weather in Paris is <b>sunny</b>, 18 °C.\n";
        Result r = stream(ToolCallFormat.HERMES, pieces(reply));
        assertThat(r.calls()).isEmpty();
        assertThat(r.text()).isEqualTo(reply);
        assertThat(r.shown()).isEqualTo(reply);
    }

    @Test
    void textThatOnlyLooksLikeTheStartOfAMarkerIsHeldBackThenReleased() {
        ReplyAssembler a = new ReplyAssembler(ToolCallFormat.HERMES, TOOLS);
        assertThat(a.accept("a <tool")).isEqualTo("a");
        assertThat(a.accept("box> b")).isEqualTo(" <toolbox> b");
        assertThat(a.finish().text()).isEqualTo("a <toolbox> b");
    }

    @Test
    void llama31JsonCalls() {
        Result r = stream(ToolCallFormat.LLAMA3_JSON, pieces(
                "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Munich\"}}"));
        assertCall(r.calls().get(0), "get_weather", "{\"city\":\"Munich\"}");
        assertThat(r.text()).isNull();

        // after the <|python_tag|> special token (whose text the model adapter puts back), several calls
        Result tagged = stream(ToolCallFormat.LLAMA3_JSON, "<|python_tag|>", "{\"name\": \"get_weather\", \"parameters\":"
                + " {\"city\": \"Munich\"}}; {\"name\": \"get_time\", \"parameters\": {\"country\": \"France\"}}");
        assertThat(tagged.calls()).hasSize(2);
        assertCall(tagged.calls().get(1), "get_time", "{\"country\":\"France\"}");
    }

    @Test
    void aLlamaJsonAnswerThatNamesNoOfferedToolIsText() {
        String json = "{\"name\": \"Berlin\", \"population\": 3700000}";
        Result r = stream(ToolCallFormat.LLAMA3_JSON, pieces(json));
        assertThat(r.calls()).isEmpty();
        assertThat(r.text()).isEqualTo(json);
        assertThat(r.shown()).isEqualTo(json);
        Result text = stream(ToolCallFormat.LLAMA3_JSON, pieces("  It is sunny in {Munich}."));
        assertThat(text.shown()).isEqualTo("  It is sunny in {Munich}.");
        assertThat(text.calls()).isEmpty();
    }

    @Test
    void mistralToolCalls() {
        Result r = stream(ToolCallFormat.MISTRAL, "[TOOL_CALLS]", "[{\"name\": \"get_weather\", \"arguments\":"
                + " {\"city\": \"Paris\"}, \"id\": \"a1b2c3d4e\"}, {\"name\": \"get_time\", \"arguments\": {}}]");
        assertThat(r.calls()).hasSize(2);
        assertThat(r.calls().get(0).id()).isEqualTo("a1b2c3d4e");
        assertCall(r.calls().get(0), "get_weather", "{\"city\":\"Paris\"}");
        assertCall(r.calls().get(1), "get_time", "{}");
        // the newer form
        Result v11 = stream(ToolCallFormat.MISTRAL, pieces("[TOOL_CALLS]get_weather[ARGS]{\"city\": \"Rome\"}"));
        assertCall(v11.calls().get(0), "get_weather", "{\"city\":\"Rome\"}");
    }

    @Test
    void argumentsWrittenAsAJsonStringAreUnwrapped() {
        Result r = stream(ToolCallFormat.HERMES,
                "<tool_call>{\"name\": \"get_weather\", \"arguments\": \"{\\\"city\\\": \\\"Oslo\\\"}\"}</tool_call>");
        assertCall(r.calls().get(0), "get_weather", "{\"city\":\"Oslo\"}");
    }

    @Test
    void withoutToolsEverythingIsText() {
        Result r = stream(ToolCallFormat.NONE, "<tool_call>{\"name\": \"get_weather\", \"arguments\": {}}</tool_call>");
        assertThat(r.calls()).isEmpty();
        assertThat(r.shown()).isEqualTo(r.text());
    }

    @Test
    void theFormatIsRecognisedFromTheTemplate() throws Exception {
        assertThat(ToolCallFormat.detect(Templates.source("Qwen-Qwen2.5-7B-Instruct.jinja")))
                .isEqualTo(ToolCallFormat.HERMES);
        assertThat(ToolCallFormat.detect(Templates.source("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja")))
                .isEqualTo(ToolCallFormat.HERMES);
        assertThat(ToolCallFormat.detect(Templates.source("meta-llama-Llama-3.1-8B-Instruct.jinja")))
                .isEqualTo(ToolCallFormat.LLAMA3_JSON);
        assertThat(ToolCallFormat.detect(Templates.source("meta-llama-Llama-3.2-3B-Instruct.jinja")))
                .isEqualTo(ToolCallFormat.LLAMA3_JSON);
        assertThat(ToolCallFormat.detect(Templates.source("mistralai-Mistral-Nemo-Instruct-2407.jinja")))
                .isEqualTo(ToolCallFormat.MISTRAL);
        assertThat(ToolCallFormat.detect(Templates.source("google-gemma-2-2b-it.jinja"))).isEqualTo(ToolCallFormat.NONE);
        assertThat(ToolCallFormat.detect(Templates.source("microsoft-Phi-3.5-mini-instruct.jinja")))
                .isEqualTo(ToolCallFormat.NONE);
    }
}

package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.CustomMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import io.offload4j.testing.SharedData;
import io.offload4j.chat.ChatTemplate;
import java.nio.file.Files;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

/**
 * LangChain4j messages and tools, converted to Hugging Face maps, render through the real templates exactly as
 * transformers renders the equivalent conversation (shared/templates/expected-renderings.json).
 */
class HfMessagesTest {

    private static final ToolSpecification GET_WEATHER = ToolSpecification.builder()
            .name("get_weather")
            .description("Current weather in a city")
            .parameters(JsonObjectSchema.builder().addStringProperty("city", "City name").required("city").build())
            .build();

    private static final ToolExecutionRequest CALL = ToolExecutionRequest.builder()
            .id("call_1").name("get_weather").arguments("{\"city\":\"Paris\"}").build();

    /** The "tool_call_and_result" conversation of expected-renderings.json, as LangChain4j messages. */
    private static final List<ChatMessage> TOOL_ROUND_TRIP = List.of(
            UserMessage.from("Weather in Paris?"),
            AiMessage.from(List.of(CALL)),
            ToolExecutionResultMessage.from(CALL, "{\"temp_c\": 18}"));

    private static JsonNode expected(String template, String testCase) throws Exception {
        JsonNode all = new ObjectMapper().readTree(SharedData.require("templates/expected-renderings.json").toFile());
        for (JsonNode n : all) {
            if (n.get("template").asText().equals(template) && n.get("case").asText().equals(testCase)) {
                return n;
            }
        }
        throw new AssertionError("no case " + testCase + " for " + template);
    }

    private static String render(String template, JsonNode expected, List<Map<String, Object>> messages,
                                 List<Map<String, Object>> tools) throws Exception {
        ChatTemplate t = ChatTemplate.compile(template, Files.readString(SharedData.require("templates/" + template)));
        Map<String, Object> variables = new LinkedHashMap<>();
        variables.put("messages", messages);
        if (tools != null) {
            variables.put("tools", tools);
        }
        variables.put("add_generation_prompt", true);
        variables.put("bos_token", expected.get("variables").get("bos_token").asText());
        variables.put("eos_token", expected.get("variables").get("eos_token").asText());
        variables.put("date_string", expected.get("variables").get("date_string").asText());
        return t.render(variables);
    }

    @ParameterizedTest
    @ValueSource(strings = {"Qwen-Qwen2.5-7B-Instruct.jinja", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
            "meta-llama-Llama-3.1-8B-Instruct.jinja", "meta-llama-Llama-3.2-3B-Instruct.jinja"})
    void aToolCallAndItsResultRenderAsTransformersRendersThem(String template) throws Exception {
        JsonNode expected = expected(template, "tool_call_and_result");
        String rendered = render(template, expected, HfMessages.messages(TOOL_ROUND_TRIP, false),
                HfMessages.tools(List.of(GET_WEATHER)));
        assertThat(rendered).isEqualTo(expected.get("expected").asText());
    }

    @ParameterizedTest
    @ValueSource(strings = {"Qwen-Qwen2.5-7B-Instruct.jinja", "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja",
            "meta-llama-Llama-3.1-8B-Instruct.jinja"})
    void toolSpecificationsRenderAsTransformersRendersThem(String template) throws Exception {
        JsonNode expected = expected(template, "tools");
        String rendered = render(template, expected, HfMessages.messages(List.of(UserMessage.from("Weather in Paris?")),
                false), HfMessages.tools(List.of(GET_WEATHER)));
        assertThat(rendered).isEqualTo(expected.get("expected").asText());
    }

    @Test
    void mistralGetsNineCharacterToolCallIdsThatStayPaired() throws Exception {
        String template = "mistralai-Mistral-Nemo-Instruct-2407.jinja";
        JsonNode expected = expected(template, "tool_call_and_result");
        assertThat(expected.get("error").asText()).contains("length 9"); // what "call_1" does to this template
        String rendered = render(template, expected, HfMessages.messages(TOOL_ROUND_TRIP, true),
                HfMessages.tools(List.of(GET_WEATHER)));
        Matcher call = Pattern.compile("\\[TOOL_CALLS]\\[\\{\"name\": \"get_weather\", \"arguments\": "
                + "\\{\"city\": \"Paris\"}, \"id\": \"([A-Za-z0-9]{9})\"}]").matcher(rendered);
        assertThat(call.find()).as(rendered).isTrue();
        assertThat(rendered).contains("[TOOL_RESULTS]{\"content\": {\"temp_c\": 18}, \"call_id\": \"" + call.group(1)
                + "\"}[/TOOL_RESULTS]");
        assertThat(HfMessages.id("a1b2c3d4e", true)).isEqualTo("a1b2c3d4e");
        assertThat(HfMessages.id("call_1", false)).isEqualTo("call_1");
    }

    @Test
    void rolesAndContent() {
        List<Map<String, Object>> m = HfMessages.messages(List.of(SystemMessage.from("Be brief."),
                UserMessage.from("Hi"), AiMessage.from("Hello!")), false);
        assertThat(m).containsExactly(
                Map.of("role", "system", "content", "Be brief."),
                Map.of("role", "user", "content", "Hi"),
                Map.of("role", "assistant", "content", "Hello!"));
        assertThat(m.get(2)).doesNotContainKey("tool_calls"); // Llama 3.1 tests 'tool_calls' in message
        Map<String, Object> tool = HfMessages.messages(List.of(ToolExecutionResultMessage.from(CALL, "18")), false).get(0);
        assertThat(tool).containsEntry("role", "tool").containsEntry("tool_call_id", "call_1")
                .containsEntry("name", "get_weather").containsEntry("content", "18");
        assertThat(HfMessages.tools(List.of(ToolSpecification.builder().name("now").build())).get(0))
                .isEqualTo(Map.of("type", "function", "function", Map.of("name", "now",
                        "parameters", Map.of("type", "object", "properties", Map.of()))));
        assertThatThrownBy(() -> HfMessages.messages(List.of(CustomMessage.from(Map.of("x", "y"))), false))
                .isInstanceOf(UnsupportedFeatureException.class).hasMessageContaining("not supported");
    }
}

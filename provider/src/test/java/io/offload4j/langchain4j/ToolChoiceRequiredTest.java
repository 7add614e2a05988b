package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.request.json.JsonEnumSchema;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link ToolChoice#REQUIRED}: stories260K with Qwen 2.5's template (so its tool-call format is Hermes'
 * {@code <tool_call>} blocks), not scripted, sampled freely: every reply must be a parsed tool call of a declared
 * tool whose arguments match that tool's parameter schema.
 */
class ToolChoiceRequiredTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    static Path dir;
    private static OffloadEngine engine;

    @BeforeAll
    static void load() throws Exception {
        engine = ScriptedQwen.engine(dir, lastTurn -> null); // no script: the model's own choices, masked
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    static final List<ToolSpecification> TOOLS = List.of(
            ToolSpecification.builder().name("getWeather").description("weather in a city")
                    .parameters(JsonObjectSchema.builder().addStringProperty("city")
                            .addProperty("unit", JsonEnumSchema.builder().enumValues("C", "F").build())
                            .required("city").build()).build(),
            ToolSpecification.builder().name("add").description("adds two integers")
                    .parameters(JsonObjectSchema.builder().addIntegerProperty("a").addIntegerProperty("b")
                            .required("a", "b").build()).build(),
            ToolSpecification.builder().name("now").description("the time").build());

    @Test
    void everyReplyIsAValidCallOfADeclaredTool() throws Exception {
        for (int seed = 0; seed < 12; seed++) {
            OffloadChatModel model = OffloadChatModel.builder().engine(engine).seed(seed).temperature(1.0)
                    .maxTokens(150).build();
            ChatResponse r = model.chat(ChatRequest.builder()
                    .messages(UserMessage.from("What is the weather in Paris?"))
                    .parameters(ChatRequestParameters.builder().toolSpecifications(TOOLS)
                            .toolChoice(ToolChoice.REQUIRED).build())
                    .build());
            String where = "seed " + seed + ": " + r.aiMessage();
            assertThat(r.finishReason()).as(where).isEqualTo(FinishReason.TOOL_EXECUTION);
            assertThat(r.aiMessage().toolExecutionRequests()).as(where).isNotEmpty();
            for (ToolExecutionRequest call : r.aiMessage().toolExecutionRequests()) {
                @SuppressWarnings("unchecked")
                Map<String, Object> args = JSON.readValue(call.arguments(), Map.class);
                switch (call.name()) {
                    case "getWeather" -> {
                        assertThat(args.get("city")).as(where).isInstanceOf(String.class);
                        assertThat(args.keySet()).as(where).isSubsetOf("city", "unit");
                        if (args.containsKey("unit")) {
                            assertThat(args.get("unit")).as(where).isIn("C", "F");
                        }
                    }
                    case "add" -> assertThat(args.keySet()).as(where).containsExactlyInAnyOrder("a", "b")
                            .allSatisfy(k -> assertThat(args.get(k)).isInstanceOf(Integer.class));
                    case "now" -> assertThat(args).as(where).isEmpty();
                    default -> throw new AssertionError("undeclared tool: " + where);
                }
            }
        }
    }
}

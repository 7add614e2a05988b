package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.agent.tool.P;
import dev.langchain4j.agent.tool.Tool;
import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.TokenStream;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Tool use end to end, on a model whose replies are scripted ({@link ScriptedQwen}): the tools go through Qwen's
 * real template, the scripted model answers a question with a {@code <tool_call>} block, the provider parses it,
 * AI Services runs the {@code @Tool} method and sends its result back as a tool message, the template renders
 * it as a {@code <tool_response>}, and the model's final answer uses it.
 */
@Timeout(120)
class ToolsRoundTripTest {

    @TempDir
    static Path dir;

    private static OffloadEngine engine;

    /** The script: what the assistant says, given the last turn before it. */
    private static String reply(String lastTurn) {
        String result = ScriptedQwen.toolResponse(lastTurn);
        if (result != null) {
            return "The sum is " + result + ".";
        }
        if (lastTurn.contains("2 + 3")) {
            return "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 2, \"b\": 3}}\n</tool_call>";
        }
        return "I can only add numbers.";
    }

    @BeforeAll
    static void load() throws Exception {
        engine = ScriptedQwen.engine(dir, ToolsRoundTripTest::reply);
        assertThat(engine.toolCallFormat()).isEqualTo(ToolCallFormat.HERMES);
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    static final class Calculator {
        final List<String> calls = new CopyOnWriteArrayList<>();

        @Tool("Adds two integers")
        int add(@P("the first number") int a, @P("the second number") int b) {
            calls.add(a + "+" + b);
            return a + b;
        }
    }

    interface Assistant {
        String chat(String message);
    }

    interface StreamingAssistant {
        TokenStream chat(String message);
    }

    @Test
    void anAiServiceCallsTheToolAndAnswersWithItsResult() {
        Calculator calculator = new Calculator();
        Assistant assistant = AiServices.builder(Assistant.class)
                .chatModel(OffloadChatModel.builder().engine(engine).build())
                .tools(calculator)
                .build();
        String answer = assistant.chat("What is 2 + 3?");
        assertThat(calculator.calls).containsExactly("2+3");
        assertThat(answer.strip()).isEqualTo("The sum is 5.");
    }

    @Test
    void aStreamingAiServiceCallsTheToolToo() throws Exception {
        Calculator calculator = new Calculator();
        StreamingAssistant assistant = AiServices.builder(StreamingAssistant.class)
                .streamingChatModel(OffloadStreamingChatModel.builder().engine(engine).build())
                .tools(calculator)
                .build();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        StringBuilder streamed = new StringBuilder();
        assistant.chat("What is 2 + 3?")
                .onPartialResponse(streamed::append)
                .onCompleteResponse(done::complete)
                .onError(done::completeExceptionally)
                .start();
        ChatResponse last = done.get(60, TimeUnit.SECONDS);
        assertThat(calculator.calls).containsExactly("2+3");
        assertThat(last.aiMessage().text().strip()).isEqualTo("The sum is 5.");
        assertThat(streamed.toString()).isEqualTo(last.aiMessage().text()); // the tool call itself was not streamed
    }

    @Test
    void streamingReportsTheCompleteToolCallThenTheResponse() throws Exception {
        ToolSpecification add = ToolSpecification.builder().name("add").description("Adds two integers")
                .parameters(JsonObjectSchema.builder().addIntegerProperty("a").addIntegerProperty("b").build()).build();
        UserMessage question = UserMessage.from("What is 2 + 3?");
        List<Object> events = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).build();
        model.chat(ChatRequest.builder().messages(question)
                .parameters(ChatRequestParameters.builder().toolSpecifications(add).build()).build(),
                new StreamingChatResponseHandler() {
                    @Override
                    public void onPartialResponse(String text) {
                        events.add(text);
                    }

                    @Override
                    public void onCompleteToolCall(CompleteToolCall call) {
                        events.add(call);
                    }

                    @Override
                    public void onCompleteResponse(ChatResponse r) {
                        done.complete(r);
                    }

                    @Override
                    public void onError(Throwable error) {
                        done.completeExceptionally(error);
                    }
                });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertThat(r.finishReason()).isEqualTo(FinishReason.TOOL_EXECUTION);
        assertThat(r.aiMessage().text()).isNull();
        ToolExecutionRequest call = r.aiMessage().toolExecutionRequests().get(0);
        assertThat(call.name()).isEqualTo("add");
        assertThat(call.arguments()).isEqualTo("{\"a\":2,\"b\":3}");
        assertThat(events).containsExactly(new CompleteToolCall(0, call));

        // The tool's result goes back; the next turn continues the first turn's KV cache.
        ChatResponse answer = OffloadChatModel.builder().engine(engine).build().chat(ChatRequest.builder()
                .messages(question, AiMessage.from(List.of(call)), ToolExecutionResultMessage.from(call, "5"))
                .parameters(ChatRequestParameters.builder().toolSpecifications(add).build()).build());
        assertThat(answer.aiMessage().text().strip()).isEqualTo("The sum is 5.");
        assertThat(answer.finishReason()).isEqualTo(FinishReason.STOP);
        OffloadChatResponseMetadata metadata = (OffloadChatResponseMetadata) answer.metadata();
        assertThat(metadata.cachedPromptTokens()).isGreaterThan(r.tokenUsage().inputTokenCount() / 2);
    }
}

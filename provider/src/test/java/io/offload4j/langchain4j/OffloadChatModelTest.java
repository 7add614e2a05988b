package io.offload4j.langchain4j;

import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.request.json.JsonRawSchema;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.Capability;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.message.ImageContent;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** {@link OffloadChatModel} on stories260K: a base model, so its replies are known continuations. */
@Timeout(60)
class OffloadChatModelTest {

    private static OffloadEngine engine;

    @BeforeAll
    static void load() {
        engine = Stories.engine();
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private static OffloadChatModel.Builder greedy() {
        return OffloadChatModel.builder().engine(engine).temperature(0.0);
    }

    @Test
    void repliesWithTheModelsContinuationUsageFinishReasonAndName() {
        ChatModel model = greedy().maxTokens(20).build();
        ChatResponse r = model.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time")).build());
        assertThat(Stories.CONTINUATION).startsWith(r.aiMessage().text());
        assertThat(r.aiMessage().text()).hasSizeGreaterThan(40);
        assertThat(r.aiMessage().toolExecutionRequests()).isEmpty();
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokenUsage().inputTokenCount()).isEqualTo(5); // BOS + 4 pieces
        assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(20);
        assertThat(r.tokenUsage().totalTokenCount()).isEqualTo(25);
        assertThat(r.modelName()).isEqualTo(engine.modelName()).isNotBlank();
        assertThat(r.id()).startsWith("offload4j-");
        assertThat(r.metadata()).isInstanceOf(OffloadChatResponseMetadata.class);
        assertThat(((OffloadChatResponseMetadata) r.metadata()).prefillNanos()).isPositive();
    }

    @Test
    void aStopSequenceEndsTheReplyWithStop() {
        ChatModel model = greedy().stopSequences(List.of("Lily")).build();
        ChatResponse r = model.chat(UserMessage.from("Once upon a time"));
        assertThat(r.aiMessage().text()).isEqualTo(", there was a little girl named ");
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP);
    }

    @Test
    void theEndOfSequenceTokenEndsTheReplyWithStop() {
        ChatResponse r = greedy().build().chat(UserMessage.from("Once upon a time"));
        if (r.finishReason() == FinishReason.STOP) {
            assertThat(r.tokenUsage().inputTokenCount() + r.tokenUsage().outputTokenCount())
                    .isLessThan(Stories.CONTEXT);
        } else {
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
            assertThat(r.tokenUsage().totalTokenCount()).isEqualTo(Stories.CONTEXT);
        }
    }

    @Test
    void requestParametersOverrideTheModelsDefaults() {
        ChatModel model = greedy().maxTokens(30).build();
        ChatResponse r = model.chat(ChatRequest.builder()
                .messages(UserMessage.from("Once upon a time"))
                .parameters(ChatRequestParameters.builder().maxOutputTokens(3).build())
                .build());
        assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(3);
        // Integration-specific parameters: a seed makes sampling at temperature 1 reproducible.
        ChatRequest sampled = ChatRequest.builder()
                .messages(UserMessage.from("Once upon a time"))
                .parameters(OffloadChatRequestParameters.builder().temperature(1.0).topK(0).topP(1.0).minP(0.0)
                        .seed(7).maxOutputTokens(30).build())
                .build();
        String a = model.chat(sampled).aiMessage().text();
        String b = model.chat(sampled).aiMessage().text();
        assertThat(a).isEqualTo(b);
        ChatRequest otherSeed = sampled.toBuilder()
                .parameters(OffloadChatRequestParameters.builder().temperature(1.0).topK(0).topP(1.0).minP(0.0)
                        .seed(8).maxOutputTokens(30).build())
                .build();
        assertThat(model.chat(otherSeed).aiMessage().text()).isNotEqualTo(a);
    }

    @Test
    void defaultParametersCarryTheBuildersOptions() {
        OffloadChatModel model = OffloadChatModel.builder().engine(engine).temperature(0.3).topP(0.9).topK(20)
                .minP(0.1).repeatPenalty(1.1).seed(5).maxTokens(50).stopSequences(List.of("x"))
                .defaultRequestParameters(OffloadChatRequestParameters.builder().repeatLastN(32).temperature(0.9)
                        .build())
                .build();
        OffloadChatRequestParameters p = model.defaultRequestParameters();
        assertThat(p.modelName()).isEqualTo(engine.modelName());
        assertThat(p.temperature()).isEqualTo(0.3); // the builder's option wins over defaultRequestParameters
        assertThat(p.topP()).isEqualTo(0.9);
        assertThat(p.topK()).isEqualTo(20);
        assertThat(p.minP()).isEqualTo(0.1);
        assertThat(p.repeatPenalty()).isEqualTo(1.1);
        assertThat(p.repeatLastN()).isEqualTo(32);
        assertThat(p.seed()).isEqualTo(5);
        assertThat(p.maxOutputTokens()).isEqualTo(50);
        assertThat(p.stopSequences()).containsExactly("x");
        assertThat(model.supportedCapabilities()).containsExactly(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    @Test
    void unsupportedFeaturesAreRejected() {
        ChatModel model = greedy().build();
        assertThatThrownBy(() -> model.chat(UserMessage.from(TextContent.from("What is this?"),
                ImageContent.from("aGVsbG8=", "image/png"))))
                .isExactlyInstanceOf(UnsupportedFeatureException.class)
                .hasMessageContaining("image").hasMessageContaining("not supported");
        assertThatThrownBy(() -> model.chat(request(ChatRequestParameters.builder().responseFormat(ResponseFormat.builder()
                .type(ResponseFormatType.JSON).jsonSchema(JsonSchema.builder().name("raw")
                        .rootElement(JsonRawSchema.from("{\"type\": \"object\"}")).build()).build()).build())))
                .isExactlyInstanceOf(UnsupportedFeatureException.class)
                .hasMessageContaining("JsonRawSchema").hasMessageContaining("not supported");
        ToolSpecification tool = ToolSpecification.builder().name("weather").build();
        assertThatThrownBy(() -> model.chat(request(ChatRequestParameters.builder().toolSpecifications(tool).build())))
                .isExactlyInstanceOf(UnsupportedFeatureException.class)
                .hasMessageContaining("tools are not supported by " + engine.modelName());
        assertThatThrownBy(() -> model.chat(request(ChatRequestParameters.builder().modelName("gpt-4o").build())))
                .isExactlyInstanceOf(UnsupportedFeatureException.class)
                .hasMessageContaining("'modelName'").hasMessageContaining("gpt-4o");
        assertThatThrownBy(() -> greedy().defaultRequestParameters(ChatRequestParameters.builder()
                .toolSpecifications(tool).toolChoice(ToolChoice.REQUIRED).build()).build())
                .isExactlyInstanceOf(UnsupportedFeatureException.class)
                .hasMessageContaining("tools are not supported by " + engine.modelName());
        // Tools offered with ToolChoice.NONE are simply not shown to the model.
        ChatResponse r = model.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time"))
                .parameters(ChatRequestParameters.builder().toolSpecifications(tool).toolChoice(ToolChoice.NONE)
                        .maxOutputTokens(5).build())
                .build());
        assertThat(r.aiMessage().toolExecutionRequests()).isEmpty();
    }

    @Test
    void aPromptThatDoesNotFitIsAnInvalidRequest() {
        ChatModel model = greedy().build();
        assertThatThrownBy(() -> model.chat("Once upon a time ".repeat(100)))
                .isExactlyInstanceOf(InvalidRequestException.class)
                .hasMessageContaining("context of " + Stories.CONTEXT);
    }

    @Test
    void maxTokensBeyondTheRoomLeftStopsAtTheContextWithLength() {
        ChatModel model = greedy().maxTokens(Integer.MAX_VALUE / 2).build();
        ChatResponse r = model.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time")).build());
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokenUsage().totalTokenCount()).isEqualTo(Stories.CONTEXT);
    }

    @Test
    void frequencyAndPresencePenaltiesChangeTheReply() {
        String plain = greedy().maxTokens(40).build().chat("Once upon a time");
        String frequency = greedy().maxTokens(40).frequencyPenalty(2.0).build().chat("Once upon a time");
        String presence = greedy().maxTokens(40).presencePenalty(2.0).build().chat("Once upon a time");
        assertThat(frequency).isNotEqualTo(plain);
        assertThat(presence).isNotEqualTo(plain);
        ChatResponse viaRequest = greedy().maxTokens(40).build().chat(request(ChatRequestParameters.builder()
                .frequencyPenalty(2.0).build()));
        assertThat(viaRequest.aiMessage().text()).isEqualTo(frequency);
        assertThatThrownBy(() -> greedy().frequencyPenalty(2.5).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("frequencyPenalty");
    }

    @Test
    void nonsenseLimitsAreRefusedAtBuild() {
        assertThatThrownBy(() -> greedy().maxTokens(0).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxOutputTokens");
        assertThatThrownBy(() -> greedy().stopSequences(List.of("end", "")).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("stop sequences must not be empty");
        assertThatThrownBy(() -> OffloadStreamingChatModel.builder().engine(engine).maxTokens(-1).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxOutputTokens");
    }

    @Test
    void builderErrorsSayWhatToDo() {
        assertThatThrownBy(() -> OffloadChatModel.builder().build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("modelPath");
        assertThatThrownBy(() -> OffloadChatModel.builder().engine(engine).contextLength(512).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("engine");
        assertThatThrownBy(() -> OffloadChatModel.builder().modelPath(Path.of("no/such/model.gguf")).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> greedy().temperature(-1.0).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("temperature");
    }

    @Test
    void modelsBuiltFromTheSamePathShareOneEngineUntilTheLastIsClosed() {
        OffloadChatModel a = OffloadChatModel.builder().modelPath(Stories.path()).device("cpu").threads(1).temperature(0.0)
                .build();
        OffloadStreamingChatModel b = OffloadStreamingChatModel.builder().modelPath(Stories.path().toString())
                .device("cpu").threads(1).build();
        try {
            assertThat(b.engine()).isSameAs(a.engine());
            a.close();
            assertThat(b.engine().inferenceEngine().stats()).isNotNull();
            ChatResponse r = OffloadChatModel.builder().engine(b.engine()).temperature(0.0).maxTokens(3).build()
                    .chat(UserMessage.from("Once upon a time"));
            assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(3);
        } finally {
            a.close();
            b.close();
        }
        OffloadEngine closed = b.engine();
        assertThatThrownBy(() -> OffloadChatModel.builder().engine(closed).build().chat("hi"))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("closed");
    }

    private static ChatRequest request(ChatRequestParameters parameters) {
        return ChatRequest.builder().messages(UserMessage.from("Once upon a time")).parameters(parameters).build();
    }
}

package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.output.FinishReason;
import io.micrometer.core.instrument.MeterRegistry;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.health.registry.HealthContributorRegistry;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * A Spring Boot application as a user writes it: the starter and actuator on the class path, the model in
 * {@code application} properties, LangChain4j's interfaces injected. It answers through the real stories260K
 * model (skipped when the shared data is absent) and shows up in health and metrics.
 */
@SpringBootTest(properties = {
        "langchain4j.offload.device=cpu",
        "langchain4j.offload.threads=1",
        "langchain4j.offload.context-length=256",
        "langchain4j.offload.context-beyond-training=true", // stories260K was trained on 128 tokens
        "langchain4j.offload.chat-model.temperature=0",
        "langchain4j.offload.chat-model.max-tokens=20"})
@Timeout(120)
class OffloadStarterApplicationTest {

    /** Greedy continuation of "Once upon a time", known from llama2.c and llama.cpp. */
    private static final String CONTINUATION =
            ", there was a little girl named Lily. She loved to play outside in the park.";

    private static Path model;

    /** An application with auto-configuration and no beans of its own (no component scan of the test classes). */
    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class App {}

    @BeforeAll
    static void requireModel() {
        model = SharedData.require("models/stories260K.gguf"); // skips the class before the context is built
    }

    @DynamicPropertySource
    static void modelProperty(DynamicPropertyRegistry registry) {
        registry.add("langchain4j.offload.model", () -> model.toString());
    }

    @Autowired
    ChatModel chatModel;

    @Autowired
    StreamingChatModel streamingChatModel;

    @Autowired
    OffloadEngine engine;

    @Autowired
    HealthContributorRegistry health;

    @Autowired
    MeterRegistry meters;

    @Test
    void theChatModelBeanAnswersWithTheModelsContinuation() {
        ChatResponse r = chatModel.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time")).build());
        assertThat(CONTINUATION).startsWith(r.aiMessage().text());
        assertThat(r.aiMessage().text()).hasSizeGreaterThan(40);
        assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(20);
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.modelName()).isEqualTo(engine.modelName());
        assertThat(meters.get("offload4j.generated.tokens").functionCounter().count()).isGreaterThanOrEqualTo(20);
        assertThat(meters.get("offload4j.prompt.tokens").functionCounter().count()).isPositive();
    }

    @Test
    void theStreamingModelBeanStreamsTheSameReplyOnTheSameEngine() throws Exception {
        List<String> pieces = new CopyOnWriteArrayList<>();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        streamingChatModel.chat("Once upon a time", new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String partialResponse) {
                pieces.add(partialResponse);
            }

            @Override
            public void onCompleteResponse(ChatResponse completeResponse) {
                done.complete(completeResponse);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(60, TimeUnit.SECONDS);
        assertThat(pieces.size()).isGreaterThan(1);
        assertThat(String.join("", pieces)).isEqualTo(r.aiMessage().text());
        assertThat(r.aiMessage().text()).isEqualTo(chatModel.chat("Once upon a time"));
        assertThat(CONTINUATION).startsWith(r.aiMessage().text());
    }

    @Test
    void theOffloadHealthContributorIsRegisteredAndUp() {
        assertThat(health.getContributor("offload")).isInstanceOfSatisfying(HealthIndicator.class, indicator -> {
            Health h = indicator.health();
            assertThat(h.getStatus()).isEqualTo(Status.UP);
            assertThat(h.getDetails()).containsEntry("loaded", true).containsEntry("model", engine.modelName())
                    .containsKeys("device", "memory", "requests").doesNotContainKey("placement");
        });
    }
}

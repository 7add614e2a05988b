package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import io.micrometer.core.instrument.MeterRegistry;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.boot.SpringBootConfiguration;
import org.springframework.boot.actuate.health.HealthContributorRegistry;
import org.springframework.boot.actuate.health.HealthEndpoint;
import org.springframework.boot.actuate.health.HealthIndicator;
import org.springframework.boot.actuate.health.Status;
import org.springframework.boot.autoconfigure.EnableAutoConfiguration;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * A Spring Boot 3.5 application as a user writes it: the starter and actuator on the class path, the model in
 * its properties. Everything comes from auto-configuration: the models, the engine, the meters and the
 * {@code offload} contributor in Boot 3's health endpoint.
 */
@SpringBootTest(properties = {
        "langchain4j.offload.device=cpu",
        "langchain4j.offload.threads=1",
        "langchain4j.offload.context-length=128",
        "langchain4j.offload.chat-model.temperature=0",
        "langchain4j.offload.chat-model.max-tokens=4",
        "management.endpoint.health.show-details=always"})
@Timeout(120)
class Boot3StarterApplicationTest {

    @SpringBootConfiguration
    @EnableAutoConfiguration
    static class App {}

    @DynamicPropertySource
    static void modelProperty(DynamicPropertyRegistry registry) throws Exception {
        Path tiny = Files.createTempDirectory("offload4j-boot3").resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
        tiny.toFile().deleteOnExit();
        registry.add("langchain4j.offload.model", tiny::toString);
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
    HealthEndpoint healthEndpoint;

    @Autowired
    MeterRegistry meters;

    @Test
    void theModelsAnswerOnTheSharedEngineAndTheMetersCount() {
        assertThat(chatModel.chat("hello")).isNotNull();
        assertThat(meters.get("offload4j.generated.tokens").functionCounter().count()).isGreaterThanOrEqualTo(4);
        assertThat(streamingChatModel).isNotNull();
    }

    @Test
    void theOffloadContributorIsInBoot3sHealthEndpoint() {
        assertThat(health.getContributor("offload")).isInstanceOfSatisfying(HealthIndicator.class, indicator -> {
            assertThat(indicator.health().getStatus()).isEqualTo(Status.UP);
            assertThat(indicator.health().getDetails()).containsEntry("model", engine.modelName());
        });
        assertThat(healthEndpoint.healthForPath("offload").getStatus()).isEqualTo(Status.UP);
    }
}

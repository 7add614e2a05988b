package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.service.Result;
import io.offload4j.spring.boot.OffloadAutoConfiguration;
import io.offload4j.spring.boot.OffloadEngineHolder;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * With the starter's {@code load-on-startup=false} the app starts without the model, its statistics say so without
 * loading it, and the first question loads it (stories260K from {@code ../shared}; skipped when absent).
 */
class DeferredLoadingTest {

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties(RagProperties.class)
    @Import({KnowledgeBaseConfiguration.class, AssistantConfiguration.class, StatsController.class})
    static class App {}

    @Test
    void statisticsDoNotLoadTheModelAndTheFirstQuestionDoes() {
        Path model = SharedData.require(StoriesModelTest.MODEL);
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class))
                .withUserConfiguration(App.class)
                .withPropertyValues("langchain4j.offload.model=" + model, "langchain4j.offload.load-on-startup=false",
                        "langchain4j.offload.device=cpu", "langchain4j.offload.context-length=1024",
                        "langchain4j.offload.context-beyond-training=true",
                        "langchain4j.offload.chat-model.max-tokens=8", "rag.documents=classpath:docs/overview.md",
                        "rag.max-results=1")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    StatsController stats = context.getBean(StatsController.class);
                    assertThat(stats.stats().loaded()).isFalse();
                    assertThat(stats.stats().knowledgeBase().documents()).isEqualTo(1);
                    assertThat(context.getBean(OffloadEngineHolder.class).ifLoaded()).isEmpty();

                    Result<String> answer = context.getBean(DocsAssistant.class).answer("c1", "What is offload4j?");

                    assertThat(answer.tokenUsage().outputTokenCount()).isEqualTo(8);
                    assertThat(stats.stats().loaded()).isTrue();
                    assertThat(stats.stats().engine().completed()).isEqualTo(1);
                    assertThat(stats.stats().knowledgeBase().memoryTokenBudget()).isEqualTo(1024 - 8 - 16);
                });
    }
}

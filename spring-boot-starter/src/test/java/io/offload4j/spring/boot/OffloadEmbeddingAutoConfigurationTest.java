package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.scoring.ScoringModel;
import io.offload4j.langchain4j.OffloadEmbeddingModel;
import io.offload4j.langchain4j.OffloadScoringModel;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * The embedding and scoring model beans: each made from its own property, beside the chat model or without it,
 * backing off for the application's own bean, and failing start-up with a report that names the property. Runs on
 * the provider's transformers fixtures (a BERT embedding model and an XLM-RoBERTa re-ranker with reference outputs,
 * {@code provider/src/test/resources/transformers}).
 */
@ExtendWith(OutputCaptureExtension.class)
class OffloadEmbeddingAutoConfigurationTest {

    static final Path FIXTURES = Path.of("../provider/src/test/resources/transformers");
    static final Path BERT = FIXTURES.resolve("hf-bert").toAbsolutePath().normalize();
    static final Path RERANKER = FIXTURES.resolve("hf-xlmr-reranker").toAbsolutePath().normalize();

    @TempDir
    static Path dir;
    static Path tiny;

    @BeforeAll
    static void writeModel() {
        tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
    }

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class,
                    OffloadEmbeddingAutoConfiguration.class))
            .withPropertyValues("langchain4j.offload.embedding-model.threads=1",
                    "langchain4j.offload.scoring-model.threads=1");

    @Test
    void inactiveWithoutTheirModelProperties() {
        runner.run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(EmbeddingModel.class);
            assertThat(context).doesNotHaveBean(ScoringModel.class);
            assertThat(context).doesNotHaveBean(OffloadEmbeddingProperties.class);
        });
    }

    @Test
    void anEmbeddingModelAndARerankerWithoutAChatModel() {
        runner.withPropertyValues("langchain4j.offload.embedding-model.model=" + BERT,
                "langchain4j.offload.scoring-model.model=" + RERANKER).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(ChatModel.class);
            EmbeddingModel embeddings = context.getBean(EmbeddingModel.class);
            assertThat(embeddings).isInstanceOf(OffloadEmbeddingModel.class);
            assertThat(embeddings.dimension()).isEqualTo(64);
            float[] v = embeddings.embed("hello").content().vector();
            double norm = 0;
            for (float f : v) {
                norm += f * f;
            }
            assertThat(norm).as("normalised, as modules.json says").isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-5));
            ScoringModel scoring = context.getBean(ScoringModel.class);
            assertThat(scoring).isInstanceOf(OffloadScoringModel.class);
            double score = scoring.score("hello", "hello").content();
            // transformers' logit for this pair is -0.49816; the default score is its sigmoid
            assertThat(score).isCloseTo(1 / (1 + Math.exp(0.49816250801086426)),
                    org.assertj.core.data.Offset.offset(1e-4));
        });
    }

    @Test
    void bindsTheirPropertiesBesideTheChatModel() {
        runner.withPropertyValues("langchain4j.offload.model=" + tiny, "langchain4j.offload.device=cpu",
                "langchain4j.offload.threads=1", "langchain4j.offload.context-length=64",
                "langchain4j.offload.embedding-model.model=" + BERT,
                "langchain4j.offload.embedding-model.pooling=cls",
                "langchain4j.offload.embedding-model.normalize=false",
                "langchain4j.offload.embedding-model.batch-tokens=32",
                "langchain4j.offload.embedding-model.max-tokens=8",
                "langchain4j.offload.scoring-model.model=" + RERANKER,
                "langchain4j.offload.scoring-model.sigmoid=false").run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).hasSingleBean(ChatModel.class);
            OffloadEmbeddingProperties p = context.getBean(OffloadEmbeddingProperties.class);
            assertThat(p.getPooling()).isEqualTo("cls");
            assertThat(p.getNormalize()).isFalse();
            assertThat(p.getBatchTokens()).isEqualTo(32);
            EmbeddingModel embeddings = context.getBean(EmbeddingModel.class);
            // CLS pooling, not normalised: the [CLS] row's state, whose norm is not 1
            float[] v = embeddings.embed("The quick brown fox jumps over the lazy dog.").content().vector();
            double norm = 0;
            for (float f : v) {
                norm += f * f;
            }
            assertThat(Math.abs(norm - 1)).isGreaterThan(1e-3);
            // max-tokens 8 cuts long texts: three texts of 8 tokens each need three passes of 32 rows at most
            assertThat(embeddings.embedAll(List.of(TextSegment.from("one two three four five six seven"),
                    TextSegment.from("hello"), TextSegment.from("Über den Wolken 123"))).content()).hasSize(3);
            double logit = context.getBean(ScoringModel.class).score("hello", "hello").content();
            assertThat(logit).isCloseTo(-0.49816250801086426, org.assertj.core.data.Offset.offset(1e-4));
        });
    }

    @Test
    void embeddingRequestsAreTimedAndCounted() {
        io.micrometer.core.instrument.simple.SimpleMeterRegistry registry =
                new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        runner.withPropertyValues("langchain4j.offload.embedding-model.model=" + BERT)
                .withBean(io.micrometer.core.instrument.MeterRegistry.class, () -> registry).run(context -> {
                    assertThat(context).hasNotFailed();
                    context.getBean(EmbeddingModel.class).embedAll(List.of(TextSegment.from("hello"),
                            TextSegment.from("The quick brown fox jumps over the lazy dog.")));
                    assertThat(registry.get("offload4j.embedding.duration").tag("model", "hf-bert")
                            .tag("outcome", "success").timer().count()).isEqualTo(1);
                    assertThat(registry.get("offload4j.embedding.texts").counter().count()).isEqualTo(2);
                    // [CLS] hello [SEP] and the fox's 12 ids
                    assertThat(registry.get("offload4j.embedding.tokens").counter().count()).isEqualTo(5 + 12);
                });
    }

    @Test
    void backsOffForTheApplicationsOwnBeans() {
        EmbeddingModel own = new dev.langchain4j.model.embedding.DisabledEmbeddingModel();
        runner.withPropertyValues("langchain4j.offload.embedding-model.model=" + BERT)
                .withBean(EmbeddingModel.class, () -> own).run(context -> {
                    assertThat(context).hasNotFailed();
                    assertThat(context.getBean(EmbeddingModel.class)).isSameAs(own);
                    assertThat(context).doesNotHaveBean(OffloadEmbeddingModel.class);
                });
    }

    @Test
    void badValuesStopStartUpNamingTheKey() {
        runner.withPropertyValues("langchain4j.offload.embedding-model.model=" + BERT,
                "langchain4j.offload.embedding-model.pooling=max",
                "langchain4j.offload.embedding-model.batch-tokens=-1").run(context -> {
            assertThat(context).hasFailed();
            assertThat(messages(context.getStartupFailure()))
                    .contains("langchain4j.offload.embedding-model.pooling = 'max' is not one of cls, mean, last")
                    .contains("langchain4j.offload.embedding-model.batch-tokens = -1 must be 0 (the model's default) or a"
                            + " positive number");
        });
        runner.withPropertyValues("langchain4j.offload.scoring-model.model=" + BERT).run(context -> {
            assertThat(context).hasFailed();
            assertThat(messages(context.getStartupFailure()))
                    .contains("langchain4j.offload.scoring-model.model = '" + BERT + "' could not be loaded")
                    .contains("not a re-ranker");
        });
    }

    private static String messages(Throwable t) {
        StringBuilder b = new StringBuilder();
        for (; t != null; t = t.getCause()) {
            b.append(t.getMessage()).append('\n');
        }
        return b.toString();
    }

    /** An application that injects an EmbeddingModel, started as a real Spring application. */
    @Configuration(proxyBeanMethods = false)
    @ImportAutoConfiguration({OffloadAutoConfiguration.class, OffloadEmbeddingAutoConfiguration.class})
    static class App {
        @Bean
        String usesTheEmbeddingModel(EmbeddingModel embeddings) {
            return embeddings.modelName();
        }
    }

    private static ConfigurableApplicationContext run(String... properties) {
        SpringApplication application = new SpringApplication(App.class);
        application.setWebApplicationType(WebApplicationType.NONE);
        String[] args = new String[properties.length];
        for (int i = 0; i < args.length; i++) {
            args[i] = "--" + properties[i];
        }
        return application.run(args);
    }

    @Test
    void startsInARealApplicationAndReportsAMissingModelByItsProperty(CapturedOutput output) {
        try (ConfigurableApplicationContext context = run("langchain4j.offload.embedding-model.model=" + BERT,
                "langchain4j.offload.embedding-model.threads=1")) {
            assertThat(context.getBean("usesTheEmbeddingModel", String.class)).isEqualTo("hf-bert");
        }
        assertThat(output.getOut() + output.getErr()).doesNotContain("has no effect");
        Path missing = dir.resolve("no-embedder.gguf");
        assertThatThrownBy(() -> run("langchain4j.offload.embedding-model.model=" + missing)).isNotNull();
        String out = output.getOut() + output.getErr();
        String report = out.substring(Math.max(0, out.lastIndexOf("APPLICATION FAILED TO START")));
        assertThat(report).contains("langchain4j.offload.embedding-model.model = '" + missing
                + "' names no existing file").contains("Action:")
                .contains("Set langchain4j.offload.embedding-model.model to a GGUF file");
        assertThat(Files.exists(missing)).isFalse();
    }
}

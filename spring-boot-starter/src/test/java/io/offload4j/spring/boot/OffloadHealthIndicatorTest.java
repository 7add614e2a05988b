package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.Status;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * The {@code offload} health contributor on Spring Boot 4 ({@code org.springframework.boot.health}): present with
 * the library and enabled, showing the report in Boot 4's types. (Its twin on Boot 3.5 is tested in
 * {@code spring-boot3-tests}.)
 */
class OffloadHealthIndicatorTest {

    @TempDir
    static Path dir;
    static Path tiny;

    @BeforeAll
    static void writeModel() {
        tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
    }

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class))
            .withPropertyValues("langchain4j.offload.device=cpu", "langchain4j.offload.threads=1",
                    "langchain4j.offload.context-length=128");

    @Test
    void upWithTheReportsDetailsOnceLoaded() {
        runner.withPropertyValues("langchain4j.offload.model=" + tiny).run(context -> {
            assertThat(context).hasBean("offloadHealthIndicator");
            Health h = context.getBean(OffloadHealthIndicator.class).health();
            assertThat(h.getStatus()).isEqualTo(Status.UP);
            assertThat(h.getDetails()).isEqualTo(context.getBean(OffloadHealth.class).report().details())
                    .containsEntry("model", "tiny-llama");
        });
    }

    @Test
    void downWithTheErrorWhenADeferredLoadFailed() throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "not a GGUF file");
        runner.withPropertyValues("langchain4j.offload.model=" + junk, "langchain4j.offload.load-on-startup=false")
                .run(context -> {
                    context.getBean(OffloadEngineHolder.class).ifLoaded(); // nothing loaded yet
                    assertThat(context.getBean(OffloadHealthIndicator.class).health().getStatus()).isEqualTo(Status.UP);
                    try {
                        context.getBean(OffloadEngineHolder.class).get();
                    } catch (RuntimeException expected) {
                        // the failure the indicator reports
                    }
                    Health h = context.getBean(OffloadHealthIndicator.class).health();
                    assertThat(h.getStatus()).isEqualTo(Status.DOWN);
                    assertThat(h.getDetails()).containsEntry("loaded", false).containsKey("error");
                });
    }

    @Test
    void onlyWithTheHealthLibraryAndWhenEnabled() {
        ApplicationContextRunner withTiny = runner.withPropertyValues("langchain4j.offload.model=" + tiny);
        withTiny.run(context -> assertThat(context).hasSingleBean(OffloadHealthIndicator.class));
        // Without the whole library (its annotations included), as in an application without actuator.
        withTiny.withClassLoader(new FilteredClassLoader("org.springframework.boot.health")).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(OffloadHealthIndicator.class);
            assertThat(context).hasSingleBean(OffloadHealth.class);
        });
        withTiny.withPropertyValues("management.health.offload.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean(OffloadHealthIndicator.class));
    }
}

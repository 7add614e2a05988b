package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.spring.boot3.Boot3OffloadHealthAutoConfiguration;
import io.offload4j.spring.boot3.Boot3OffloadHealthIndicator;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.SpringBootVersion;
import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.Status;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/** The {@code offload} health contributor on Spring Boot 3.5, whose actuator has it in its own package. */
class Boot3HealthTest {

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
                    Boot3OffloadHealthAutoConfiguration.class))
            .withPropertyValues("langchain4j.offload.device=cpu", "langchain4j.offload.threads=1",
                    "langchain4j.offload.context-length=128");

    @Test
    void thisModuleRunsOnSpringBoot35() {
        assertThat(SpringBootVersion.getVersion()).startsWith("3.5.");
    }

    @Test
    void upWithTheReportsDetailsOnceLoaded() {
        runner.withPropertyValues("langchain4j.offload.model=" + tiny).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).hasBean("offloadHealthIndicator");
            Health h = context.getBean(Boot3OffloadHealthIndicator.class).health();
            assertThat(h.getStatus()).isEqualTo(Status.UP);
            assertThat(h.getDetails()).isEqualTo(context.getBean(OffloadHealth.class).report().details())
                    .containsEntry("model", "tiny-llama").containsEntry("loaded", true);
        });
    }

    @Test
    void downWithTheErrorWhenADeferredLoadFailed() throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "not a GGUF file");
        runner.withPropertyValues("langchain4j.offload.model=" + junk, "langchain4j.offload.load-on-startup=false")
                .run(context -> {
                    assertThat(context.getBean(Boot3OffloadHealthIndicator.class).health().getStatus())
                            .isEqualTo(Status.UP);
                    try {
                        context.getBean(OffloadEngineHolder.class).get();
                    } catch (RuntimeException expected) {
                        // the failure the indicator reports
                    }
                    Health h = context.getBean(Boot3OffloadHealthIndicator.class).health();
                    assertThat(h.getStatus()).isEqualTo(Status.DOWN);
                    assertThat(h.getDetails()).containsEntry("loaded", false).containsKey("error");
                });
    }

    @Test
    void onlyWithActuatorAndWhenEnabled() {
        ApplicationContextRunner withTiny = runner.withPropertyValues("langchain4j.offload.model=" + tiny);
        withTiny.withClassLoader(new FilteredClassLoader("org.springframework.boot.actuate")).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean("offloadHealthIndicator");
            assertThat(context).hasSingleBean(OffloadHealth.class);
        });
        withTiny.withPropertyValues("management.health.offload.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean("offloadHealthIndicator"));
        withTiny.withPropertyValues("management.health.defaults.enabled=false")
                .run(context -> assertThat(context).doesNotHaveBean("offloadHealthIndicator"));
        // Without the starter's model property the starter is off, and so is its health contributor.
        runner.run(context -> assertThat(context).doesNotHaveBean("offloadHealthIndicator"));
    }
}

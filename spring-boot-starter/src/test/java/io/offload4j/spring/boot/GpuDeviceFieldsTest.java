package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * On a GPU: the device-specific figures appear (health's {@code placement}, the {@code offload4j.gpu.*} and
 * {@code offload4j.cpu.*} meters), as on the CPU they do not (tested in {@link OffloadAutoConfigurationTest}).
 * Skipped where no usable CUDA GPU is (the build machines); run it on a GPU machine with
 * {@code ./mvnw -B -pl spring-boot-starter -am test -Dtest=GpuDeviceFieldsTest -Dsurefire.failIfNoSpecifiedTests=false}.
 */
@Tag("gpu")
class GpuDeviceFieldsTest {

    @Test
    void placementAndGpuMetersOnAGpu() {
        Path stories = SharedData.require("models/stories260K.gguf");
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class))
                .withPropertyValues("langchain4j.offload.model=" + stories, "langchain4j.offload.device=auto",
                        "langchain4j.offload.context-length=128")
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    OffloadEngine engine = context.getBean(OffloadEngine.class);
                    Assumptions.assumeTrue(DeviceKind.isGpu(engine.inferenceEngine()),
                            "no usable CUDA GPU here: the model runs on " + engine.inferenceEngine().deviceDescription());
                    Map<String, Object> d = context.getBean(OffloadHealth.class).report().details();
                    assertThat(d).containsKey("placement");
                    MeterRegistry registry = new SimpleMeterRegistry();
                    context.getBean(OffloadMetrics.class).bindTo(registry);
                    assertThat(registry.get("offload4j.gpu.resident.weights").gauge().value()).isPositive();
                    assertThat(registry.find("offload4j.gpu.cache.hits").functionCounter()).isNotNull();
                    assertThat(registry.find("offload4j.cpu.blocks.time").functionCounter()).isNotNull();
                });
    }
}

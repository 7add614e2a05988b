package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;

/** The WARNs of a start-up that works but should not go unnoticed. */
@ExtendWith(OutputCaptureExtension.class)
class StartupWarningsTest {

    @TempDir
    Path dir;

    @Test
    void aMissingVectorModuleIsWarnedAboutWithTheFlagAndThePluginSnippet() {
        assertThat(StartupWarnings.vectorModule(true)).isEmpty();
        assertThat(StartupWarnings.vectorModule(false)).hasValueSatisfying(w -> assertThat(w)
                .contains("java --add-modules jdk.incubator.vector -jar app.jar")
                .contains("<artifactId>spring-boot-maven-plugin</artifactId><configuration><jvmArguments>"
                        + "--add-modules jdk.incubator.vector</jvmArguments>")
                .contains("JDK_JAVA_OPTIONS=--add-modules=jdk.incubator.vector"));
        assertThat(StartupWarnings.vectorModulePresent()).as("the build runs tests with the module").isTrue();
    }

    @Test
    void aContextBeyondTheModelsTrainingIsWarnedAbout(CapturedOutput output) {
        // The tiny model is trained for 256 tokens (SyntheticModelSpec.tiny); ask for twice that.
        Path tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
        ApplicationContextRunner runner = new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class))
                .withPropertyValues("langchain4j.offload.model=" + tiny, "langchain4j.offload.device=cpu",
                        "langchain4j.offload.threads=1");
        runner.withPropertyValues("langchain4j.offload.context-length=64").run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(output).doesNotContain("was trained for");
        });
        int trained = trainedContext(tiny);
        // refused unless allowed explicitly (for a model whose positions were stretched); allowed, it is still warned about
        runner.withPropertyValues("langchain4j.offload.context-length=" + (2 * trained),
                "langchain4j.offload.context-beyond-training=true").run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(output).contains("WARN").contains("langchain4j.offload.context-length=" + (2 * trained)
                    + " exceeds the " + trained + " tokens tiny-llama was trained for");
        });
    }

    private static int trainedContext(Path model) {
        try (var engine = io.offload4j.langchain4j.OffloadEngine.builder().modelPath(model).device("cpu").threads(1)
                .contextLength(32).build()) {
            return engine.inferenceEngine().config().contextLength();
        }
    }
}

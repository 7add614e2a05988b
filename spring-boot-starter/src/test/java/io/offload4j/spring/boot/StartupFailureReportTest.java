package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.model.chat.ChatModel;
import io.offload4j.hub.ModelResolutionException;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.spring.boot.diagnostics.OffloadStartupException;
import io.offload4j.spring.boot.diagnostics.OffloadStartupFailureAnalyzer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.SpringApplication;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.ImportAutoConfiguration;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.test.system.CapturedOutput;
import org.springframework.boot.test.system.OutputCaptureExtension;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * What a user reads when the application cannot start because of offload4j: Spring Boot's "APPLICATION FAILED TO
 * START" report, whose Description names the property and its value and whose Action says what to do, in
 * property wording, and no bean-creation stack trace. Each case starts a real {@link SpringApplication}.
 */
@ExtendWith(OutputCaptureExtension.class)
class StartupFailureReportTest {

    @TempDir
    static Path dir;
    static Path tiny;

    @BeforeAll
    static void writeModel() {
        tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
    }

    /** An application that injects a ChatModel, as one that uses the starter does. */
    @Configuration(proxyBeanMethods = false)
    @ImportAutoConfiguration(OffloadAutoConfiguration.class)
    static class App {
        @Bean
        String usesTheChatModel(ChatModel chat) {
            return chat.toString();
        }
    }

    /** An application that does not need a ChatModel: it starts whatever the starter does. */
    @Configuration(proxyBeanMethods = false)
    @ImportAutoConfiguration(OffloadAutoConfiguration.class)
    static class Quiet {}

    /** Runs {@code app} with the given properties and, when they name a model, a small CPU engine's defaults. */
    private static ConfigurableApplicationContext run(Class<?> app, String... properties) {
        SpringApplication application = new SpringApplication(app);
        application.setWebApplicationType(WebApplicationType.NONE);
        Map<String, String> args = new LinkedHashMap<>();
        for (String p : properties) {
            args.put(p.substring(0, p.indexOf('=')), p);
        }
        if (args.containsKey("langchain4j.offload.model")) {
            for (String p : List.of("langchain4j.offload.device=cpu", "langchain4j.offload.threads=1",
                    "langchain4j.offload.context-length=64")) {
                args.putIfAbsent(p.substring(0, p.indexOf('=')), p);
            }
        }
        return application.run(args.values().stream().map(p -> "--" + p).toArray(String[]::new));
    }

    /** Starts {@link App} expecting failure; returns the report's text. */
    private static String failureReport(CapturedOutput output, String... properties) {
        assertThatThrownBy(() -> run(App.class, properties)).isNotNull();
        String out = output.getOut() + output.getErr();
        int at = out.lastIndexOf("APPLICATION FAILED TO START");
        assertThat(at).as("the failure report in:\n%s", out).isNotNegative();
        assertThat(out).as("no stack trace is logged").doesNotContain("\tat ");
        return out.substring(at);
    }

    @Test
    void aMissingFileNamesThePropertyItsValueAndWhatToSet(CapturedOutput output) {
        Path missing = dir.resolve("nowhere.gguf");
        String report = failureReport(output, "langchain4j.offload.model=" + missing);
        assertThat(report).contains("langchain4j.offload.model names no existing file (looked for " + missing)
                .contains("Action:").contains("each line says what its property accepts");
    }

    @Test
    void aDirectoryThatIsNoModelSaysWhatTheDirectoryLacks(CapturedOutput output) throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty-model-dir"));
        String report = failureReport(output, "langchain4j.offload.model=" + empty);
        assertThat(report).contains("langchain4j.offload.model = '" + empty + "' is a directory the engine cannot"
                + " load as a model").contains("config.json").contains("Action:")
                .contains("Set langchain4j.offload.model to a GGUF file");
    }

    @Test
    void aFileThatIsNoModelSaysSoAndHowToFixIt(CapturedOutput output) throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "not a GGUF file");
        String report = failureReport(output, "langchain4j.offload.model=" + junk);
        assertThat(report).contains("langchain4j.offload.model = '" + junk + "' is not a model file the engine can"
                + " read").contains("truncated");
    }

    @Test
    void cudaWithoutAGpuAdvisesThePropertyNotACommandLineFlag(CapturedOutput output) {
        try {
            run(Quiet.class, "langchain4j.offload.model=" + tiny, "langchain4j.offload.device=cuda").close();
            Assumptions.abort("this machine has a usable CUDA GPU: the model loaded on it");
        } catch (RuntimeException expected) {
            // no GPU here: the report below
        }
        String out = output.getOut() + output.getErr();
        String report = out.substring(out.lastIndexOf("APPLICATION FAILED TO START"));
        assertThat(report).contains("could not be loaded on langchain4j.offload.device = 'cuda'")
                .contains("set langchain4j.offload.device=cpu, or auto").doesNotContain("--device");
    }

    @Test
    void aMalformedBudgetSaysThatAutoIsAllowed(CapturedOutput output) {
        String report = failureReport(output, "langchain4j.offload.model=" + tiny,
                "langchain4j.offload.gpu.memory-budget=lots");
        assertThat(report).contains("langchain4j.offload.gpu.memory-budget = 'lots' cannot be used: 'lots' is not a"
                        + " memory size: expected 'auto' or a size such as 512MB, 6GB or a number of bytes")
                .contains("Set langchain4j.offload.gpu.memory-budget to auto (free GPU memory minus a margin) or a"
                        + " size such as 512MB or 6GB");
    }

    @Test
    void invalidValuesAreAllListedWithTheirOrigin(CapturedOutput output) {
        String report = failureReport(output, "langchain4j.offload.model=" + tiny,
                "langchain4j.offload.max-sequences=-1", "langchain4j.offload.device=gpu");
        assertThat(report).contains("Invalid offload4j configuration:")
                .contains("  - langchain4j.offload.max-sequences must be >= 0 (0 = auto: from the memory that is free),"
                        + " was -1 (from ")
                .contains("  - langchain4j.offload.device must be auto, cpu, cuda, cuda:N");
    }

    @Test
    void keysWithoutTheModelPropertyExplainTheMissingChatModel(CapturedOutput output) {
        String report = failureReport(output, "langchain4j.offload.modle=" + tiny);
        assertThat(report).contains("No ChatModel bean: The offload4j starter is off because"
                + " langchain4j.offload.model is not set, so langchain4j.offload.modle has no effect")
                .contains("Set langchain4j.offload.model to the path of a GGUF file");
    }

    @Test
    void keysWithoutTheModelPropertyAreWarnedAboutEvenWhenNothingFails(CapturedOutput output) {
        run(Quiet.class, "langchain4j.offload.modle=" + tiny).close();
        assertThat(output).contains("WARN").contains("The offload4j starter is off because langchain4j.offload.model"
                + " is not set, so langchain4j.offload.modle has no effect");
    }

    @Test
    void anUnreachableHubNamesTheSpecAndTheWaysAround() {
        OffloadStartupException e = ModelLoadFailures.hubUnreachable("owner/repo:Q4_K_M", new IllegalStateException(
                "cannot be resolved", new ModelResolutionException("cannot reach https://huggingface.co")));
        FailureAnalysis analysis = new OffloadStartupFailureAnalyzer().analyze(new RuntimeException(e));
        assertThat(analysis.getDescription()).isEqualTo("langchain4j.offload.model = 'owner/repo:Q4_K_M' could not"
                + " be fetched from the Hugging Face Hub: cannot reach https://huggingface.co");
        assertThat(analysis.getAction()).contains("HF_TOKEN").contains("langchain4j.offload.cache-dir")
                .contains("HF_HUB_OFFLINE=1");
    }

    @Test
    void theEnginesCommandLineAdviceIsRewordedAsAProperty() {
        assertThat(ModelLoadFailures.propertyWording("device 'cuda' is not usable: no driver; install the NVIDIA"
                + " driver, or use --device cpu; use --device cpu (or auto, which falls back to the CPU)"))
                .isEqualTo("device 'cuda' is not usable: no driver; install the NVIDIA driver, or use"
                        + " langchain4j.offload.device=cpu; use langchain4j.offload.device=cpu (or auto, which falls"
                        + " back to the CPU)");
        assertThat(ModelLoadFailures.propertyWording("out of memory, or --device cpu"))
                .isEqualTo("out of memory, or langchain4j.offload.device=cpu");
    }
}

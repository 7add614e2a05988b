package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.service.Result;
import io.offload4j.spring.boot.OffloadAutoConfiguration;
import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Import;

/**
 * Issue 19: the README's "No network?" command line, taken from the README itself, on top of the app's own
 * {@code application.properties}, answers even a one-word question (it used to refuse "hi": the passage needed
 * 578 tokens against a budget of 496).
 */
class ReadmeOfflineSettingsTest {

    @Configuration(proxyBeanMethods = false)
    @EnableConfigurationProperties(RagProperties.class)
    @Import({KnowledgeBaseConfiguration.class, AssistantConfiguration.class})
    static class App {}

    /** The {@code --key=value} arguments of the README line that names stories260K, with the model's real path. */
    static List<String> readmeArguments(Path model) throws IOException {
        String line = Files.readAllLines(Path.of("README.md")).stream()
                .filter(l -> l.contains("--langchain4j.offload.model=../shared/models/stories260K.gguf"))
                .findFirst().orElseThrow(() -> new AssertionError("README.md has no stories260K command line"));
        List<String> properties = new ArrayList<>();
        for (String arg : line.strip().replaceAll("[`.]$|`", "").split("\\s+")) {
            assertThat(arg).startsWith("--");
            String property = arg.substring(2);
            properties.add(property.startsWith("langchain4j.offload.model=")
                    ? "langchain4j.offload.model=" + model : property);
        }
        return properties;
    }

    @Test
    void theReadmesOfflineLineAnswersAShortQuestion() throws IOException {
        Path model = SharedData.require(StoriesModelTest.MODEL);
        List<String> properties = new ArrayList<>();
        Properties app = new Properties();
        try (InputStream in = getClass().getResourceAsStream("/application.properties")) {
            app.load(in);
        }
        app.forEach((k, v) -> properties.add(k + "=" + v));
        properties.add("langchain4j.offload.device=cpu"); // the README leaves the device to auto: no GPU in CI anyway
        properties.addAll(readmeArguments(model)); // later values win, as on the command line
        new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class))
                .withUserConfiguration(App.class)
                .withPropertyValues(properties.toArray(String[]::new))
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    for (String question : Arrays.asList("hi", "What is offload4j?")) {
                        Result<String> answer = context.getBean(DocsAssistant.class).answer("c" + question.length(), question);
                        assertThat(answer.tokenUsage().outputTokenCount()).as(question).isPositive();
                    }
                });
    }
}

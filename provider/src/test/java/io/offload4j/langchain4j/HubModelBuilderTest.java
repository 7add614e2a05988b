package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.offload4j.hub.ModelResolutionException;
import io.offload4j.hub.ModelResolver;
import io.offload4j.testing.FakeHub;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code model("owner/repo:Q8_0")} in the chat model builders resolves a Hugging Face id through
 * {@link ModelResolver} (here against a local fake of the Hub serving stories260K), as the CLI and the starter do.
 */
class HubModelBuilderTest {

    @Test
    void aHubIdIsDownloadedIntoTheCacheAndLoaded(@TempDir Path cache) throws Exception {
        try (FakeHub hub = new FakeHub()
                .file("tiny/stories-GGUF", "stories260K.Q8_0.gguf", Files.readAllBytes(Stories.path()), true)
                .file("tiny/stories-GGUF", "stories260K.F16.gguf", new byte[] {1, 2, 3}, true)) {
            ModelResolver resolver = ModelResolver.builder().endpoint(hub.endpoint()).cacheDir(cache).build();
            try (OffloadChatModel model = OffloadChatModel.builder().model("tiny/stories-GGUF:Q8_0")
                    .modelResolver(resolver).device("cpu").threads(1).contextLength(Stories.CONTEXT).contextBeyondTraining(true)
                    .temperature(0.0).maxTokens(20).build()) {
                assertThat(Stories.CONTINUATION).startsWith(model.chat("Once upon a time").strip().substring(0, 10));
                assertThat(model.engine().modelName()).isNotBlank();
            }
            assertThat(Files.list(cache).map(p -> p.getFileName().toString())).contains("models--tiny--stories-GGUF");
            try (OffloadStreamingChatModel streaming = OffloadStreamingChatModel.builder()
                    .model("hf:tiny/stories-GGUF/stories260K.Q8_0.gguf").modelResolver(resolver).device("cpu")
                    .threads(1).contextLength(Stories.CONTEXT).contextBeyondTraining(true).build()) {
                assertThat(streaming.engine().modelName()).isNotBlank(); // the same cached file, no new download
            }
            try (OffloadEngine engine = OffloadEngine.builder().model("tiny/stories-GGUF:Q8_0").modelResolver(resolver)
                    .device("cpu").threads(1).contextLength(Stories.CONTEXT).contextBeyondTraining(true).build()) {
                assertThat(OffloadChatModel.builder().engine(engine).temperature(0.0).maxTokens(5).build()
                        .chat("Once upon a time")).isNotBlank();
            }
        }
    }

    @Test
    void aLocalPathStaysAPath() {
        try (OffloadChatModel model = OffloadChatModel.builder().model(Stories.path().toString()).device("cpu")
                .threads(1).contextLength(Stories.CONTEXT).contextBeyondTraining(true).maxTokens(5).build()) {
            assertThat(model.chat("Once upon a time")).isNotBlank();
        }
    }

    @Test
    void anUnknownHubModelIsAClearError(@TempDir Path cache) throws Exception {
        try (FakeHub hub = new FakeHub()) {
            ModelResolver resolver = ModelResolver.builder().endpoint(hub.endpoint()).cacheDir(cache).build();
            assertThatThrownBy(() -> OffloadChatModel.builder().model("nobody/nothing-GGUF:Q4_K_M")
                    .modelResolver(resolver).build())
                    .isInstanceOf(ModelResolutionException.class).hasMessageContaining("nobody/nothing-GGUF");
        }
    }
}

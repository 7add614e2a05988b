package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.offload4j.gguf.GgmlType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The builders' quantize-at-load settings reach the engine; bad values name the allowed ones. */
class QuantizationBuilderTest {

    @Test
    void engineBuilderQuantizesAtLoad(@TempDir Path tmp) {
        Path cache = tmp.resolve("stories-q8_0.gguf");
        try (OffloadEngine engine = OffloadEngine.builder().modelPath(Stories.path()).device("cpu").threads(1)
                .contextLength(Stories.CONTEXT).contextBeyondTraining(true).quantization("q8_0")
                .quantizationCache(cache).build()) {
            assertThat(engine.inferenceEngine().model().weights().blocks().getFirst().wq().type())
                    .isEqualTo(GgmlType.Q8_0);
            assertThat(Files.isRegularFile(cache)).isTrue();
            assertThat(OffloadChatModel.builder().engine(engine).temperature(0.0).maxTokens(5).build()
                    .chat("Once upon a time")).isNotBlank();
        }
    }

    @Test
    void badValuesListTheAllowedOnes() {
        assertThatThrownBy(() -> OffloadEngine.builder().quantization("nf4"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("quantization is 'nf4'; allowed values: none, q8_0, q4_k, q6_k");
        java.nio.file.Path stories = Stories.path(); // outside the lambda: without the shared data, skipped
        assertThatThrownBy(() -> OffloadChatModel.builder().modelPath(stories).quantization("int8").build())
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("allowed values: none, q8_0, q4_k, q6_k");
    }
}

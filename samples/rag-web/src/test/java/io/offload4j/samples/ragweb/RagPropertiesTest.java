package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.time.Duration;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.springframework.boot.context.properties.bind.Binder;
import org.springframework.boot.context.properties.source.MapConfigurationPropertySource;

/** {@code rag.*} as Spring binds it: defaults, relaxed names, and a refusal that names the property. */
class RagPropertiesTest {

    private static RagProperties bind(Map<String, String> values) {
        return new Binder(new MapConfigurationPropertySource(values)).bindOrCreate("rag", RagProperties.class);
    }

    @Test
    void defaultsAndOverrides() {
        RagProperties defaults = bind(Map.of());
        assertThat(defaults.documents()).isEqualTo("classpath:docs/*.md");
        assertThat(defaults.maxResults()).isEqualTo(3);
        assertThat(defaults.streamTimeout()).isEqualTo(Duration.ofMinutes(5));
        assertThat(defaults.systemMessage()).isEqualTo(RagProperties.DEFAULT_SYSTEM_MESSAGE);

        RagProperties set = bind(Map.of("rag.max-results", "5", "rag.segment-size", "300", "rag.stream-timeout", "30s"));
        assertThat(set.maxResults()).isEqualTo(5);
        assertThat(set.segmentSize()).isEqualTo(300);
        assertThat(set.streamTimeout()).isEqualTo(Duration.ofSeconds(30));
    }

    @Test
    void aWrongValueNamesThePropertyAndTheRule() {
        assertThatThrownBy(() -> bind(Map.of("rag.max-results", "0")))
                .rootCause().hasMessage("rag.max-results must be >= 1, was 0");
        assertThatThrownBy(() -> bind(Map.of("rag.segment-overlap", "600")))
                .rootCause().hasMessage("rag.segment-overlap must be >= 0 and less than rag.segment-size (600), was 600");
        assertThatThrownBy(() -> bind(Map.of("rag.min-score", "1.5")))
                .rootCause().hasMessage("rag.min-score must be between 0 and 1, was 1.5");
    }
}

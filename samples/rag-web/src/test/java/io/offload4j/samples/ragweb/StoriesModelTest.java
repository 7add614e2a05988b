package io.offload4j.samples.ragweb;

import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.springframework.boot.test.context.SpringBootTest;
import org.springframework.boot.test.web.server.LocalServerPort;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;

/**
 * The whole app on a real port with the real stories260K model from {@code ../shared}; when it is absent the tests
 * are skipped with a message, before the application context (which would fail to load the model) is built. stories260K writes children's stories, not answers, so tests check what the app does around the
 * model (retrieval, memory, streaming, statistics), never what the model says.
 *
 * <p>It was trained on 128-token sequences, and a passage alone is longer than that in its 512-token vocabulary:
 * the tests run it with a 1024-token context (the text beyond 128 positions is noise, which these tests never
 * read), one passage per question, a short system message and short replies. The test classes share this
 * configuration and therefore one application context.
 */
@SpringBootTest(webEnvironment = SpringBootTest.WebEnvironment.RANDOM_PORT, properties = {
        "langchain4j.offload.device=cpu",
        "langchain4j.offload.context-length=1024",
        "langchain4j.offload.context-beyond-training=true",
        "langchain4j.offload.chat-model.temperature=0",
        "langchain4j.offload.chat-model.max-tokens=24",
        "rag.max-results=1",
        "rag.system-message=Answer from the documents."})
@ExtendWith(StoriesModelTest.ModelPresent.class)
abstract class StoriesModelTest {

    static final String MODEL = "models/stories260K.gguf";

    @LocalServerPort
    int port;

    /**
     * Skips the class, with the reason, when the model is missing: before the test instance exists, whose
     * preparation would load the context. A condition rather than an assumption in {@code @BeforeAll}: Surefire
     * reports a disabled class as skipped, with its reason, but an aborted one not at all.
     */
    static final class ModelPresent implements ExecutionCondition {
        @Override
        public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
            if (SharedData.find(MODEL).isPresent()) {
                return ConditionEvaluationResult.enabled("shared/" + MODEL + " is present");
            }
            return ConditionEvaluationResult.disabled("skipped: reference file shared/" + MODEL + " not found (looked in "
                    + SharedData.root().map(Path::toString).orElse("no shared folder")
                    + "); set -Doffload4j.shared=DIR or OFFLOAD4J_SHARED=DIR to the folder holding the reference data");
        }
    }

    @DynamicPropertySource
    static void model(DynamicPropertyRegistry registry) {
        registry.add("langchain4j.offload.model",
                () -> SharedData.find(MODEL).map(Path::toString).orElse("shared/" + MODEL + " (absent)"));
    }

    String url(String path) {
        return "http://localhost:" + port + path;
    }
}

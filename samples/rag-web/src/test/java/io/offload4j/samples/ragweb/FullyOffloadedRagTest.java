package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.scoring.ScoringModel;
import dev.langchain4j.rag.content.Content;
import dev.langchain4j.rag.content.retriever.ContentRetriever;
import dev.langchain4j.rag.query.Query;
import io.offload4j.langchain4j.OffloadEmbeddingModel;
import io.offload4j.langchain4j.OffloadScoringModel;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.beans.factory.annotation.Autowired;
import org.springframework.test.context.DynamicPropertyRegistry;
import org.springframework.test.context.DynamicPropertySource;
import org.springframework.test.context.TestPropertySource;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * The sample with every model on offload4j, chosen by properties alone: the chat model, the embedding model
 * ({@code langchain4j.offload.embedding-model.model}, replacing the bundled ONNX one) and a re-ranker
 * ({@code langchain4j.offload.scoring-model.model}) that picks the prompt's passage from ten retrieved candidates.
 * The embedding and scoring models are the provider's tiny random-weight transformers fixtures, so the test checks
 * the wiring (which beans, how many candidates, which passage reaches the answer), not the quality of retrieval.
 */
@Timeout(120)
@TestPropertySource(properties = {"rag.min-score=0", "rag.rerank-candidates=10",
        "langchain4j.offload.embedding-model.device=cpu", "langchain4j.offload.scoring-model.device=cpu"})
class FullyOffloadedRagTest extends StoriesModelTest {

    static final Path FIXTURES = Path.of("../../provider/src/test/resources/transformers").toAbsolutePath().normalize();

    @DynamicPropertySource
    static void offloadedModels(DynamicPropertyRegistry registry) {
        registry.add("langchain4j.offload.embedding-model.model", () -> FIXTURES.resolve("hf-bert").toString());
        registry.add("langchain4j.offload.scoring-model.model", () -> FIXTURES.resolve("hf-xlmr-reranker").toString());
    }

    @Autowired
    EmbeddingModel embeddingModel;
    @Autowired
    ScoringModel scoringModel;
    @Autowired
    ContentRetriever retriever;
    @Autowired
    KnowledgeBase knowledgeBase;

    @Test
    void embeddingsAndReRankingComeFromOffload4j() throws Exception {
        assertThat(embeddingModel).isInstanceOf(OffloadEmbeddingModel.class);
        assertThat(scoringModel).isInstanceOf(OffloadScoringModel.class);
        assertThat(knowledgeBase.passages()).isGreaterThan(10);

        String question = "Which quantization formats can it run?";
        List<Content> candidates = retriever.retrieve(Query.from(question));
        assertThat(candidates).as("candidates for the re-ranker").hasSize(10);
        List<Double> scores = scoringModel.scoreAll(candidates.stream().map(Content::textSegment).toList(), question)
                .content();
        int best = 0;
        for (int i = 1; i < scores.size(); i++) {
            if (scores.get(i) > scores.get(best)) {
                best = i;
            }
        }

        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url("/api/chat")))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"message\": \"" + question + "\"}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode sources = new ObjectMapper().readTree(r.body()).get("sources");
        assertThat(sources).as("rag.max-results=1 passage after re-ranking").hasSize(1);
        assertThat(sources.get(0).get("text").asString()).as("the re-ranker's best candidate")
                .isEqualTo(candidates.get(best).textSegment().text());
    }
}

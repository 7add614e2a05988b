package io.offload4j.langchain4j;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.langchain4j.data.document.Document;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.embedding.request.EmbeddingInputType;
import dev.langchain4j.model.embedding.request.EmbeddingRequest;
import dev.langchain4j.model.embedding.response.EmbeddingResponse;
import dev.langchain4j.rag.content.Content;
import dev.langchain4j.rag.content.aggregator.ReRankingContentAggregator;
import dev.langchain4j.rag.content.retriever.EmbeddingStoreContentRetriever;
import dev.langchain4j.rag.query.Query;
import dev.langchain4j.store.embedding.EmbeddingStoreIngestor;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import dev.langchain4j.data.document.splitter.DocumentSplitters;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The LangChain4j face of embeddings and re-ranking, on the transformers fixtures (whose numbers
 * {@code EmbeddingReferenceTest} checks): the instruction goes to QUERY inputs only, ingestion and retrieval work
 * through LangChain4j's own classes, and a re-ranking aggregator orders by our scores.
 */
class OffloadEmbeddingModelTest {

    private static final String TASK = "Given a web search query, retrieve relevant passages that answer the query";
    private static OffloadEmbeddingModel qwen;
    private static OffloadEmbeddingModel bert;
    private static OffloadScoringModel reranker;

    static Path resource(String name) {
        try {
            return Path.of(OffloadEmbeddingModelTest.class.getResource("/transformers/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @BeforeAll
    static void load() {
        qwen = OffloadEmbeddingModel.builder().modelPath(resource("hf-qwen3-embed")).device("cpu").threads(2)
                .queryInstruction(TASK).build();
        bert = OffloadEmbeddingModel.builder().modelPath(resource("hf-bert")).device("cpu").threads(2).build();
        reranker = OffloadScoringModel.builder().modelPath(resource("hf-xlmr-reranker")).device("cpu").threads(2)
                .build();
    }

    @AfterAll
    static void close() {
        for (AutoCloseable c : new AutoCloseable[] {qwen, bert, reranker}) {
            try {
                if (c != null) {
                    c.close();
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }
    }

    @Test
    void queriesGetTheInstructionAndDocumentsDoNot() {
        String q = "what does offloading do?";
        EmbeddingResponse asQuery = qwen.embed(EmbeddingRequest.builder().input(q)
                .inputType(EmbeddingInputType.QUERY).build());
        Embedding byHand = qwen.embed("Instruct: " + TASK + "\nQuery:" + q).content();
        assertArrayEquals(byHand.vector(), asQuery.embeddings().getFirst().vector(), 1e-6f);
        EmbeddingResponse asDocument = qwen.embed(EmbeddingRequest.builder().input(q)
                .inputType(EmbeddingInputType.DOCUMENT).build());
        assertArrayEquals(qwen.embed(q).content().vector(), asDocument.embeddings().getFirst().vector(), 1e-6f);
        assertFalse(java.util.Arrays.equals(byHand.vector(), qwen.embed(q).content().vector()));
        assertTrue(asQuery.tokenUsage().inputTokenCount() > 20, "the instruction's tokens are counted");
    }

    /** nomic-embed-text's task prefixes: QUERY and DOCUMENT inputs get theirs, untyped ones are taken as given. */
    @Test
    void queriesAndDocumentsGetTheirTaskPrefixes() throws URISyntaxException {
        Path gguf = Path.of(OffloadEmbeddingModelTest.class.getResource("/nomic/tiny-nomic-bert-f32.gguf").toURI());
        try (OffloadEmbeddingModel nomic = OffloadEmbeddingModel.builder().modelPath(gguf).device("cpu").threads(2)
                .queryPrefix("search_query: ").documentPrefix("search_document: ").build()) {
            String text = "Once upon a time there was a little girl.";
            float[] query = nomic.embed(EmbeddingRequest.builder().input(text).inputType(EmbeddingInputType.QUERY)
                    .build()).embeddings().getFirst().vector();
            float[] document = nomic.embed(EmbeddingRequest.builder().input(text)
                    .inputType(EmbeddingInputType.DOCUMENT).build()).embeddings().getFirst().vector();
            assertArrayEquals(nomic.embed("search_query: " + text).content().vector(), query, 1e-6f);
            assertArrayEquals(nomic.embed("search_document: " + text).content().vector(), document, 1e-6f);
            assertFalse(java.util.Arrays.equals(query, document));
            assertFalse(java.util.Arrays.equals(query, nomic.embed(text).content().vector()), "untyped: as given");
        }
        IllegalArgumentException both = assertThrows(IllegalArgumentException.class, () -> OffloadEmbeddingModel
                .builder().modelPath(gguf).queryInstruction("a task").queryPrefix("search_query: ").build());
        assertTrue(both.getMessage().contains("queryPrefix"), both.getMessage());
    }

    @Test
    void embedAllGivesWhatEmbedGivesOneByOne() {
        List<TextSegment> segments = List.of(TextSegment.from("The quick brown fox jumps over the lazy dog."),
                TextSegment.from("hello"), TextSegment.from("Über den Wolken 123"));
        List<Embedding> all = bert.embedAll(segments).content();
        assertEquals(3, all.size());
        for (int i = 0; i < 3; i++) {
            assertArrayEquals(bert.embed(segments.get(i)).content().vector(), all.get(i).vector(), 1e-5f);
            assertEquals(64, all.get(i).dimension());
        }
        assertEquals(64, bert.dimension());
        assertEquals("hf-bert", bert.modelName());
        assertTrue(bert.embedAll(List.of()).content().isEmpty());
    }

    @Test
    void ingestionRetrievalAndReRankingRunThroughLangChain4j() {
        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        EmbeddingStoreIngestor.builder().embeddingModel(qwen).embeddingStore(store)
                .documentSplitter(DocumentSplitters.recursive(200, 0)).build()
                .ingest(List.of(Document.from("Offloading streams the weights of a model larger than the GPU."),
                        Document.from("Once upon a time, there was a little girl named Lily.")));
        EmbeddingStoreContentRetriever retriever = EmbeddingStoreContentRetriever.builder().embeddingModel(qwen)
                .embeddingStore(store).maxResults(2).build();
        List<Content> found = retriever.retrieve(Query.from("what does offloading do?"));
        assertEquals(2, found.size());
        // the stored vector of the first document is its DOCUMENT embedding (no instruction)
        Embedding doc = qwen.embed("Offloading streams the weights of a model larger than the GPU.").content();
        assertTrue(store.search(dev.langchain4j.store.embedding.EmbeddingSearchRequest.builder().queryEmbedding(doc)
                .maxResults(1).build()).matches().getFirst().score() > 0.9999);

        ReRankingContentAggregator aggregator = ReRankingContentAggregator.builder().scoringModel(reranker).build();
        Query query = Query.from("what does offloading do?");
        List<Content> ranked = aggregator.aggregate(Map.of(query, List.of(found)));
        assertEquals(2, ranked.size());
        List<Double> scores = reranker.scoreAll(List.of(ranked.get(0).textSegment(), ranked.get(1).textSegment()),
                query.text()).content();
        assertTrue(scores.get(0) >= scores.get(1), "aggregated in the order of our scores: " + scores);
        for (double s : scores) {
            assertTrue(s > 0 && s < 1, "sigmoid scores are in 0..1 by default: " + s);
        }
    }

    @Test
    void rawLogitsWhenAskedAndClearErrorsForWrongModels() {
        try (OffloadScoringModel raw = OffloadScoringModel.builder().modelPath(resource("hf-xlmr-reranker"))
                .device("cpu").threads(1).sigmoid(false).build()) {
            double logit = raw.score("hello", "hello").content();
            assertEquals(-0.49816250801086426, logit, 1e-4, "transformers' logit of the pair");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> OffloadScoringModel.builder()
                .modelPath(resource("hf-bert")).device("cpu").build());
        assertTrue(e.getMessage().contains("not a re-ranker"), e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> OffloadEmbeddingModel.builder().modelPath(Path.of("no-such-model.gguf")).build());
        assertTrue(missing.getMessage().contains("does not exist"), missing.getMessage());
    }
}

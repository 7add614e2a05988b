package io.offload4j.samples.ragweb;

import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.langchain4j.rag.content.retriever.ContentRetriever;
import dev.langchain4j.rag.content.retriever.EmbeddingStoreContentRetriever;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import dev.langchain4j.model.scoring.ScoringModel;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Condition;
import org.springframework.context.annotation.ConditionContext;
import org.springframework.context.annotation.Conditional;
import org.springframework.core.type.AnnotatedTypeMetadata;
import org.springframework.context.annotation.Configuration;

/** Embeds the bundled documents in-process and offers the passages closest to a question. */
@Configuration(proxyBeanMethods = false)
class KnowledgeBaseConfiguration {

    /**
     * all-MiniLM-L6-v2 (384 dimensions) runs in this JVM on ONNX Runtime and ships inside its jar: nothing is
     * downloaded, and embedding a question takes milliseconds on a CPU. It is the default because it needs no
     * download and no setting; with {@code langchain4j.offload.embedding-model.model} set, the starter's
     * {@code OffloadEmbeddingModel} takes its place and the whole stack runs on offload4j.
     */
    @Bean
    @ConditionalOnMissingBean
    @Conditional(NoOffloadEmbeddingModel.class)
    EmbeddingModel embeddingModel() {
        return new AllMiniLmL6V2EmbeddingModel();
    }

    @Bean
    KnowledgeBase knowledgeBase(EmbeddingModel embeddingModel, RagProperties rag) {
        return KnowledgeBase.ingest(BundledDocuments.load(rag.documents()), embeddingModel, rag.segmentSize(),
                rag.segmentOverlap());
    }

    /** With a re-ranker, more candidates are retrieved; the re-ranker keeps the best {@code rag.max-results}. */
    @Bean
    ContentRetriever contentRetriever(KnowledgeBase knowledgeBase, EmbeddingModel embeddingModel, RagProperties rag,
                                      ObjectProvider<ScoringModel> reranker) {
        return EmbeddingStoreContentRetriever.builder()
                .embeddingStore(knowledgeBase.store())
                .embeddingModel(embeddingModel)
                .maxResults(reranker.getIfAvailable() != null ? rag.rerankCandidates() : rag.maxResults())
                .minScore(rag.minScore())
                .build();
    }

    /** Whether the application leaves embeddings to the ONNX model: no offload4j embedding model is configured. */
    static final class NoOffloadEmbeddingModel implements Condition {
        @Override
        public boolean matches(ConditionContext context, AnnotatedTypeMetadata metadata) {
            String model = context.getEnvironment().getProperty("langchain4j.offload.embedding-model.model");
            return model == null || model.isBlank();
        }
    }
}

package io.offload4j.samples.ragweb;

import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.onnx.allminilml6v2.AllMiniLmL6V2EmbeddingModel;
import dev.langchain4j.rag.content.retriever.ContentRetriever;
import dev.langchain4j.rag.content.retriever.EmbeddingStoreContentRetriever;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/** Embeds the bundled documents in-process and offers the passages closest to a question. */
@Configuration(proxyBeanMethods = false)
class KnowledgeBaseConfiguration {

    /**
     * all-MiniLM-L6-v2 (384 dimensions) runs in this JVM on ONNX Runtime and ships inside its jar: nothing is
     * downloaded, and embedding a question takes milliseconds on a CPU.
     */
    @Bean
    @ConditionalOnMissingBean
    EmbeddingModel embeddingModel() {
        return new AllMiniLmL6V2EmbeddingModel();
    }

    @Bean
    KnowledgeBase knowledgeBase(EmbeddingModel embeddingModel, RagProperties rag) {
        return KnowledgeBase.ingest(BundledDocuments.load(rag.documents()), embeddingModel, rag.segmentSize(),
                rag.segmentOverlap());
    }

    @Bean
    ContentRetriever contentRetriever(KnowledgeBase knowledgeBase, EmbeddingModel embeddingModel, RagProperties rag) {
        return EmbeddingStoreContentRetriever.builder()
                .embeddingStore(knowledgeBase.store())
                .embeddingModel(embeddingModel)
                .maxResults(rag.maxResults())
                .minScore(rag.minScore())
                .build();
    }
}

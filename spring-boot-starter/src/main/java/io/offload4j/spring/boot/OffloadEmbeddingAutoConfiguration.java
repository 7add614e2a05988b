package io.offload4j.spring.boot;

import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.listener.EmbeddingModelListener;
import dev.langchain4j.model.scoring.ScoringModel;
import io.offload4j.langchain4j.OffloadEmbeddingModel;
import io.offload4j.langchain4j.OffloadScoringModel;
import org.springframework.beans.factory.ObjectProvider;
import io.micrometer.core.instrument.MeterRegistry;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * LangChain4j {@link EmbeddingModel} and {@link ScoringModel} beans computed in-process by offload4j, each from its
 * own model ({@code langchain4j.offload.embedding-model.model}, {@code langchain4j.offload.scoring-model.model}),
 * each active only when its property is set and backing off when the application defines its own bean. They do not
 * need the chat model: a RAG application can take its chat model from anywhere. The beans load their model while
 * the context starts (a model that cannot be loaded stops start-up with a report naming the property) and release
 * it on shutdown.
 */
@AutoConfiguration
public class OffloadEmbeddingAutoConfiguration {

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(prefix = OffloadEmbeddingProperties.PREFIX, name = "model")
    @EnableConfigurationProperties(OffloadEmbeddingProperties.class)
    static class EmbeddingConfiguration {

        /** {@code close()} releases the model on context shutdown (inferred destroy method). */
        @Bean
        @ConditionalOnMissingBean(EmbeddingModel.class)
        OffloadEmbeddingModel offloadEmbeddingModel(OffloadEmbeddingProperties p,
                                                    ObjectProvider<EmbeddingModelListener> listeners) {
            return SubModelLoader.load(OffloadEmbeddingProperties.PREFIX, p.getModel(), p.getDevice(), path ->
                    OffloadEmbeddingModel.builder().modelPath(path).device(p.getDevice()).threads(p.getThreads())
                            .batchTokens(p.getBatchTokens()).maxTokens(p.getMaxTokens()).pooling(p.getPooling())
                            .normalize(p.getNormalize()).queryInstruction(p.getQueryInstruction())
                            .queryPrefix(p.getQueryPrefix()).documentPrefix(p.getDocumentPrefix())
                            .listeners(listeners.orderedStream().toList()).build());
        }
    }

    /** Timers and counters of the embedding model's requests, when the application has Micrometer. */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(prefix = OffloadEmbeddingProperties.PREFIX, name = "model")
    @ConditionalOnClass(MeterRegistry.class)
    static class EmbeddingMetricsConfiguration {

        @Bean
        @ConditionalOnMissingBean(name = "offloadEmbeddingMetrics")
        EmbeddingModelListener offloadEmbeddingMetrics(ObjectProvider<MeterRegistry> registry) {
            return new OffloadEmbeddingMetricsListener(registry::getIfAvailable);
        }
    }

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnProperty(prefix = OffloadScoringProperties.PREFIX, name = "model")
    @EnableConfigurationProperties(OffloadScoringProperties.class)
    static class ScoringConfiguration {

        @Bean
        @ConditionalOnMissingBean(ScoringModel.class)
        OffloadScoringModel offloadScoringModel(OffloadScoringProperties p) {
            return SubModelLoader.load(OffloadScoringProperties.PREFIX, p.getModel(), p.getDevice(), path ->
                    OffloadScoringModel.builder().modelPath(path).device(p.getDevice()).threads(p.getThreads())
                            .batchTokens(p.getBatchTokens()).maxTokens(p.getMaxTokens()).sigmoid(p.isSigmoid())
                            .instruction(p.getInstruction()).build());
        }
    }
}

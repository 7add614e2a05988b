package io.offload4j.samples.ragweb;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.rag.content.retriever.ContentRetriever;
import dev.langchain4j.service.AiServices;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.spring.boot.OffloadEngineHolder;
import dev.langchain4j.model.scoring.ScoringModel;
import dev.langchain4j.rag.DefaultRetrievalAugmentor;
import dev.langchain4j.rag.RetrievalAugmentor;
import dev.langchain4j.rag.content.aggregator.DefaultContentAggregator;
import dev.langchain4j.rag.content.aggregator.ReRankingContentAggregator;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Wires the AI Service from the starter's chat models, the knowledge base's retriever and per-conversation memory
 * sized to the loaded model's context.
 */
@Configuration(proxyBeanMethods = false)
class AssistantConfiguration {

    @Bean
    ConversationMemories conversationMemories(OffloadEngineHolder engine, ChatModel chatModel, RagProperties rag) {
        Integer maxOutputTokens = chatModel.defaultRequestParameters().maxOutputTokens();
        ConversationMemories memories = new ConversationMemories(() -> {
            InferenceEngine e = engine.get().inferenceEngine();
            return new ConversationMemories.Budget(
                    ConversationMemories.tokenBudget(e.contextLength(), maxOutputTokens),
                    new EngineTokenCounter(e.tokenizer()));
        }, rag.maxConversations());
        if (engine.ifLoaded().isPresent()) {
            memories.budget(); // loaded at start-up: a context too small for the settings stops start-up now
        }
        return memories;
    }

    @Bean
    DocsAssistant docsAssistant(ChatModel chatModel, StreamingChatModel streamingChatModel,
                                ContentRetriever contentRetriever, ConversationMemories memories, RagProperties rag,
                                ObjectProvider<ScoringModel> reranker) {
        // The passages retrieved for a question stay in memory with it (LangChain4j's default): the next turn's
        // prompt then starts with this turn's prompt token for token, so the engine's prefix cache continues its KV
        // cache instead of computing the conversation again.
        ScoringModel scoring = reranker.getIfAvailable();
        // With a re-ranker (langchain4j.offload.scoring-model.model), the retrieved candidates are scored against
        // the question by a cross-encoder and only the best rag.max-results reach the prompt.
        RetrievalAugmentor augmentor = DefaultRetrievalAugmentor.builder()
                .contentRetriever(contentRetriever)
                .contentAggregator(scoring == null ? new DefaultContentAggregator()
                        : ReRankingContentAggregator.builder().scoringModel(scoring).maxResults(rag.maxResults())
                                .build())
                .build();
        return AiServices.builder(DocsAssistant.class)
                .chatModel(chatModel)
                .streamingChatModel(streamingChatModel)
                .retrievalAugmentor(augmentor)
                .chatMemoryProvider(memories)
                .systemMessage(rag.systemMessage())
                .build();
    }
}

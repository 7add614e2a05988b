package io.offload4j.samples.ragweb;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.rag.content.retriever.ContentRetriever;
import dev.langchain4j.service.AiServices;
import io.offload4j.langchain4j.OffloadEngine;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Wires the AI Service from the starter's engine and chat models, the knowledge base's retriever and
 * per-conversation memory.
 */
@Configuration(proxyBeanMethods = false)
class AssistantConfiguration {

    @Bean
    ConversationMemories conversationMemories(OffloadEngine engine, ChatModel chatModel, RagProperties rag) {
        int budget = ConversationMemories.tokenBudget(engine.inferenceEngine().contextLength(),
                chatModel.defaultRequestParameters().maxOutputTokens());
        return new ConversationMemories(budget, new EngineTokenCounter(engine.inferenceEngine().tokenizer()),
                rag.maxConversations());
    }

    @Bean
    DocsAssistant docsAssistant(ChatModel chatModel, StreamingChatModel streamingChatModel,
                                ContentRetriever contentRetriever, ConversationMemories memories, RagProperties rag) {
        // The passages retrieved for a question stay in memory with it (LangChain4j's default): the next turn's
        // prompt then starts with this turn's prompt token for token, so the engine's prefix cache continues its KV
        // cache instead of computing the conversation again.
        return AiServices.builder(DocsAssistant.class)
                .chatModel(chatModel)
                .streamingChatModel(streamingChatModel)
                .contentRetriever(contentRetriever)
                .chatMemoryProvider(memories)
                .systemMessage(rag.systemMessage())
                .build();
    }
}

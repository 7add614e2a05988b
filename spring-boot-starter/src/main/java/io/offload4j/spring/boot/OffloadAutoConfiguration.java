package io.offload4j.spring.boot;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import io.offload4j.langchain4j.OffloadEngine;
import java.nio.file.Path;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.context.annotation.Bean;

/**
 * Loads the model named by {@code langchain4j.offload.model} into one {@link OffloadEngine} and exposes it as
 * LangChain4j {@link ChatModel} and {@link StreamingChatModel} beans sharing that engine.
 */
@AutoConfiguration
@ConditionalOnProperty(prefix = OffloadProperties.PREFIX, name = "model")
@EnableConfigurationProperties(OffloadProperties.class)
public class OffloadAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    OffloadEngine offloadEngine(OffloadProperties properties) {
        return OffloadEngine.builder().modelPath(Path.of(properties.getModel()))
                .options(EngineOptionsMapper.toEngineOptions(properties)).build();
    }

    @Bean
    @ConditionalOnMissingBean
    ChatModel offloadChatModel(OffloadEngine engine, OffloadProperties properties,
                               ObjectProvider<ChatModelListener> listeners) {
        return new ChatModelConfigurer(properties.getChatModel(), listeners.orderedStream().toList()).chatModel(engine);
    }

    @Bean
    @ConditionalOnMissingBean
    StreamingChatModel offloadStreamingChatModel(OffloadEngine engine, OffloadProperties properties,
                                                 ObjectProvider<ChatModelListener> listeners) {
        return new ChatModelConfigurer(properties.getChatModel(), listeners.orderedStream().toList())
                .streamingChatModel(engine);
    }
}

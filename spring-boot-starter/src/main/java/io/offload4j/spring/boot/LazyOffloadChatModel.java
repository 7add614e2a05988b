package io.offload4j.spring.boot;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.offload4j.langchain4j.OffloadChatModel;
import java.util.List;
import java.util.Set;

/**
 * The {@link ChatModel} bean when {@code langchain4j.offload.load-on-startup=false}: the engine is loaded by the
 * first request (which waits for it), then requests go to an {@link OffloadChatModel} on it.
 *
 * <p>Only {@link #doChat} is implemented, as by every provider: LangChain4j's {@code chat} merges
 * {@link #defaultRequestParameters()} (the {@code chat-model.*} properties) into each request and notifies the
 * {@link #listeners()} — also of a failed load, which reaches them as the request's error.
 */
final class LazyOffloadChatModel implements ChatModel {

    private final OffloadEngineHolder engine;
    private final ChatModelConfigurer configurer;
    private volatile OffloadChatModel delegate;

    LazyOffloadChatModel(OffloadEngineHolder engine, ChatModelConfigurer configurer) {
        this.engine = engine;
        this.configurer = configurer;
    }

    @Override
    public ChatResponse doChat(ChatRequest chatRequest) {
        return delegate().doChat(chatRequest);
    }

    @Override
    public ChatRequestParameters defaultRequestParameters() {
        return configurer.defaultParameters();
    }

    @Override
    public List<ChatModelListener> listeners() {
        return configurer.listeners();
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** The loaded model's; before the load, none (what offload4j models support with any chat template). */
    @Override
    public Set<Capability> supportedCapabilities() {
        OffloadChatModel d = delegate;
        return d == null ? Set.of() : d.supportedCapabilities();
    }

    /** The model on the loaded engine, built on first use (its listeners are ours, run by {@code chat}). */
    OffloadChatModel delegate() {
        OffloadChatModel d = delegate;
        if (d == null) {
            synchronized (this) {
                d = delegate;
                if (d == null) {
                    d = configurer.withoutListeners().chatModel(engine.get());
                    delegate = d;
                }
            }
        }
        return d;
    }

    @Override
    public String toString() {
        OffloadChatModel d = delegate;
        return "LazyOffloadChatModel[" + (d == null ? "not loaded yet" : d.engine()) + "]";
    }
}

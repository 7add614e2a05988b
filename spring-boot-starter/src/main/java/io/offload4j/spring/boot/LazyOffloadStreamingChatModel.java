package io.offload4j.spring.boot;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import io.offload4j.langchain4j.OffloadStreamingChatModel;
import java.util.List;
import java.util.Set;

/**
 * The {@link StreamingChatModel} bean when {@code langchain4j.offload.load-on-startup=false}: the first request
 * loads the engine on the calling thread (so {@code chat} returns only after the load), then requests go to an
 * {@link OffloadStreamingChatModel} on it. A failed load reaches the handler's {@code onError}.
 */
final class LazyOffloadStreamingChatModel implements StreamingChatModel {

    private final OffloadEngineHolder engine;
    private final ChatModelConfigurer configurer;
    private volatile OffloadStreamingChatModel delegate;

    LazyOffloadStreamingChatModel(OffloadEngineHolder engine, ChatModelConfigurer configurer) {
        this.engine = engine;
        this.configurer = configurer;
    }

    @Override
    public void doChat(ChatRequest chatRequest, StreamingChatResponseHandler handler) {
        OffloadStreamingChatModel d;
        try {
            d = delegate();
        } catch (RuntimeException e) {
            handler.onError(e);
            return;
        }
        d.doChat(chatRequest, handler);
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
        OffloadStreamingChatModel d = delegate;
        return d == null ? Set.of() : d.supportedCapabilities();
    }

    OffloadStreamingChatModel delegate() {
        OffloadStreamingChatModel d = delegate;
        if (d == null) {
            synchronized (this) {
                d = delegate;
                if (d == null) {
                    d = configurer.withoutListeners().streamingChatModel(engine.get());
                    delegate = d;
                }
            }
        }
        return d;
    }

    @Override
    public String toString() {
        OffloadStreamingChatModel d = delegate;
        return "LazyOffloadStreamingChatModel[" + (d == null ? "not loaded yet" : d.engine()) + "]";
    }
}

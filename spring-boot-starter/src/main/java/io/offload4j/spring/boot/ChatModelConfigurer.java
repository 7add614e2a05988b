package io.offload4j.spring.boot;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import io.offload4j.langchain4j.OffloadChatModel;
import io.offload4j.langchain4j.OffloadChatRequestParameters;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.langchain4j.OffloadStreamingChatModel;
import java.util.List;

/** Builds the chat models of the {@code langchain4j.offload.chat-model.*} properties on a loaded engine. */
final class ChatModelConfigurer {

    private final OffloadProperties.ChatModelProperties p;
    private final List<ChatModelListener> listeners;

    ChatModelConfigurer(OffloadProperties.ChatModelProperties properties, List<ChatModelListener> listeners) {
        this.p = properties;
        this.listeners = List.copyOf(listeners);
    }

    /** The same settings without listeners: for a model whose caller notifies them. */
    ChatModelConfigurer withoutListeners() {
        return new ChatModelConfigurer(p, List.of());
    }

    /** The listeners, in {@code @Order}. */
    List<ChatModelListener> listeners() {
        return listeners;
    }

    /**
     * The properties as request parameters: what a lazily loaded model merges into each request before the
     * engine (and so the model's own name) is known.
     */
    OffloadChatRequestParameters defaultParameters() {
        return OffloadChatRequestParameters.builder().modelName(p.getModelName()).temperature(p.getTemperature())
                .topP(p.getTopP()).topK(p.getTopK()).minP(p.getMinP()).repeatPenalty(p.getRepeatPenalty())
                .repeatLastN(p.getRepeatLastN()).seed(p.getSeed()).maxOutputTokens(p.getMaxTokens())
                .stopSequences(stops()).build();
    }

    OffloadChatModel chatModel(OffloadEngine engine) {
        OffloadChatModel.Builder b = OffloadChatModel.builder().engine(engine);
        apply(b);
        return b.build();
    }

    OffloadStreamingChatModel streamingChatModel(OffloadEngine engine) {
        OffloadStreamingChatModel.Builder b = OffloadStreamingChatModel.builder().engine(engine);
        apply(b);
        return b.build();
    }

    private void apply(OffloadChatModel.Builder b) {
        b.modelName(p.getModelName()).temperature(p.getTemperature()).topP(p.getTopP()).topK(p.getTopK())
                .minP(p.getMinP()).repeatPenalty(p.getRepeatPenalty()).repeatLastN(p.getRepeatLastN())
                .seed(p.getSeed()).maxTokens(p.getMaxTokens()).stopSequences(stops()).listeners(listeners)
                .logRequests(p.isLogRequests()).logResponses(p.isLogResponses());
    }

    private void apply(OffloadStreamingChatModel.Builder b) {
        b.modelName(p.getModelName()).temperature(p.getTemperature()).topP(p.getTopP()).topK(p.getTopK())
                .minP(p.getMinP()).repeatPenalty(p.getRepeatPenalty()).repeatLastN(p.getRepeatLastN())
                .seed(p.getSeed()).maxTokens(p.getMaxTokens()).stopSequences(stops()).listeners(listeners)
                .logRequests(p.isLogRequests()).logResponses(p.isLogResponses());
    }

    private List<String> stops() {
        return p.getStopSequences() == null || p.getStopSequences().isEmpty() ? null : List.copyOf(p.getStopSequences());
    }
}

package io.offload4j.spring.boot;

import dev.langchain4j.model.chat.listener.ChatModelListener;
import java.util.List;

/**
 * Listeners the starter puts on its own chat models, ahead of the application's {@code ChatModelListener} beans:
 * request timers and the per-request observation. Kept out of the {@code ChatModelListener} beans so that other
 * LangChain4j starters, which give every such bean to their models, do not time their models as offload4j's.
 */
public record OffloadChatInstrumentation(List<ChatModelListener> listeners) {

    public OffloadChatInstrumentation {
        listeners = List.copyOf(listeners);
    }
}

package io.offload4j.samples.ragweb;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.memory.ChatMemory;
import dev.langchain4j.memory.chat.TokenWindowChatMemory;
import dev.langchain4j.model.TokenCountEstimator;
import java.util.List;

/**
 * A conversation's memory that holds as many of its latest messages as fit in a token budget (LangChain4j's
 * {@link TokenWindowChatMemory}), and refuses a question that cannot fit even alone. Without that check the window
 * would evict the new question itself, and the model would be called with the system message only: an answer to
 * nothing, with no error.
 */
final class ContextBoundedMemory implements ChatMemory {

    private final ChatMemory window;
    private final int maxTokens;
    private final TokenCountEstimator tokens;

    ContextBoundedMemory(Object id, int maxTokens, TokenCountEstimator tokens) {
        this.window = TokenWindowChatMemory.builder().id(id).maxTokens(maxTokens, tokens).build();
        this.maxTokens = maxTokens;
        this.tokens = tokens;
    }

    @Override
    public Object id() {
        return window.id();
    }

    /**
     * @throws InvalidChatRequestException when {@code message} is a user message (the question with its retrieved
     *                                     passages) that with the system message exceeds the budget
     */
    @Override
    public void add(ChatMessage message) {
        if (message instanceof UserMessage) {
            int needed = tokens.estimateTokenCountInMessage(message);
            for (ChatMessage m : window.messages()) {
                if (m instanceof SystemMessage) {
                    needed += tokens.estimateTokenCountInMessage(m);
                }
            }
            if (needed > maxTokens) {
                throw new InvalidChatRequestException("the question with its retrieved passages needs about " + needed
                        + " tokens, more than the " + maxTokens + " that the model's context leaves for the "
                        + "conversation; ask a shorter question, or lower rag.max-results or rag.segment-size, or "
                        + "raise langchain4j.offload.context-length");
            }
        }
        window.add(message);
    }

    @Override
    public List<ChatMessage> messages() {
        return window.messages();
    }

    @Override
    public void clear() {
        window.clear();
    }
}

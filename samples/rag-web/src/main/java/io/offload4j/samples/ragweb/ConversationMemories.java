package io.offload4j.samples.ragweb;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.memory.ChatMemory;
import dev.langchain4j.memory.chat.ChatMemoryProvider;
import dev.langchain4j.model.TokenCountEstimator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One chat memory per conversation id ({@link ContextBoundedMemory}). Each keeps as many of its latest messages as fit
 * in {@code maxTokens} (the model's context less room for the reply), counted with the model's tokenizer, so a long
 * conversation forgets its oldest turns instead of failing once its prompt outgrows the context; the system message
 * is always kept.
 * At most {@code maxConversations} are kept; the least recently used is forgotten first, so a server that has seen
 * many visitors does not grow without bound. A forgotten conversation starts again with an empty memory.
 */
final class ConversationMemories implements ChatMemoryProvider {

    private final int maxTokens;
    private final TokenCountEstimator tokens;
    private final Map<Object, ChatMemory> memories;

    ConversationMemories(int maxTokens, TokenCountEstimator tokens, int maxConversations) {
        if (maxTokens < 1) {
            throw new IllegalArgumentException("chat memory needs a positive token budget, was " + maxTokens);
        }
        this.maxTokens = maxTokens;
        this.tokens = tokens;
        this.memories = new LinkedHashMap<>(16, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<Object, ChatMemory> eldest) {
                return size() > maxConversations;
            }
        };
    }

    /**
     * The tokens a conversation's messages may take: the context less the reply's {@code maxOutputTokens} (a
     * quarter of the context when unset, as the model would otherwise write until the context is full) and a few
     * tokens for the generation prompt and BOS.
     *
     * @throws IllegalStateException when nothing would be left for the conversation
     */
    static int tokenBudget(int contextLength, Integer maxOutputTokens) {
        int reply = maxOutputTokens != null ? maxOutputTokens : contextLength / 4;
        int budget = contextLength - reply - 16;
        if (budget < 64) {
            throw new IllegalStateException("the model's context of " + contextLength + " tokens leaves " + budget
                    + " tokens for the conversation after " + reply + " for the reply; lower "
                    + "langchain4j.offload.chat-model.max-tokens or raise langchain4j.offload.context-length");
        }
        return budget;
    }

    @Override
    public synchronized ChatMemory get(Object conversationId) {
        return memories.computeIfAbsent(conversationId, id -> new ContextBoundedMemory(id, maxTokens, tokens));
    }

    /** The messages a conversation holds now (empty for one never seen or already forgotten). */
    synchronized List<ChatMessage> messages(Object conversationId) {
        ChatMemory m = memories.get(conversationId);
        return m == null ? List.of() : m.messages();
    }

    /** Conversations remembered now. */
    synchronized int size() {
        return memories.size();
    }

    int maxTokens() {
        return maxTokens;
    }
}

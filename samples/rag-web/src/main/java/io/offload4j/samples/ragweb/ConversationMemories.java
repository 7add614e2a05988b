package io.offload4j.samples.ragweb;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.memory.ChatMemory;
import dev.langchain4j.memory.chat.ChatMemoryProvider;
import dev.langchain4j.model.TokenCountEstimator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * One chat memory per conversation id ({@link ContextBoundedMemory}). Each keeps as many of its latest messages as fit
 * in a token budget (the model's context less room for the reply), counted with the model's tokenizer, so a long
 * conversation forgets its oldest turns instead of failing once its prompt outgrows the context; the system message
 * is always kept. At most {@code maxConversations} are kept; the least recently used is forgotten first, so a server
 * that has seen many visitors does not grow without bound. A forgotten conversation starts again with an empty memory.
 *
 * <p>The budget needs the loaded model, which the starter may load only on the first request
 * ({@code langchain4j.offload.load-on-startup=false}); so it is asked for when the first memory is created.
 */
final class ConversationMemories implements ChatMemoryProvider {

    /** How many tokens a conversation may hold, and how they are counted. */
    record Budget(int maxTokens, TokenCountEstimator tokens) {
        Budget {
            if (maxTokens < 1) {
                throw new IllegalArgumentException("chat memory needs a positive token budget, was " + maxTokens);
            }
        }
    }

    private final Supplier<Budget> budgetSource;
    private final Map<Object, ChatMemory> memories;
    private Budget budget;

    ConversationMemories(Supplier<Budget> budget, int maxConversations) {
        this.budgetSource = budget;
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
     * @throws IllegalStateException when too little would be left for the conversation
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
        Budget b = budget();
        return memories.computeIfAbsent(conversationId, id -> new ContextBoundedMemory(id, b.maxTokens(), b.tokens()));
    }

    /** The budget, computed now if it was not yet (which loads the model if the starter has not). */
    synchronized Budget budget() {
        if (budget == null) {
            budget = budgetSource.get();
        }
        return budget;
    }

    /** The budget if it has been computed; never loads the model. */
    synchronized Optional<Budget> budgetIfKnown() {
        return Optional.ofNullable(budget);
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
}

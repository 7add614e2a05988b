package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.memory.ChatMemory;
import dev.langchain4j.model.TokenCountEstimator;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** Per-conversation memories bounded by tokens and by the number of conversations. */
class ConversationMemoriesTest {

    /** One token per word, two per message for the role: easy to count by hand. */
    static final class Words implements TokenCountEstimator {
        @Override
        public int estimateTokenCountInText(String text) {
            return text.isBlank() ? 0 : text.strip().split("\\s+").length;
        }

        @Override
        public int estimateTokenCountInMessage(ChatMessage m) {
            return 2 + estimateTokenCountInText(switch (m) {
                case SystemMessage s -> s.text();
                case UserMessage u -> u.singleText();
                case AiMessage a -> a.text();
                default -> "";
            });
        }

        @Override
        public int estimateTokenCountInMessages(Iterable<ChatMessage> messages) {
            int n = 0;
            for (ChatMessage m : messages) {
                n += estimateTokenCountInMessage(m);
            }
            return n;
        }
    }

    @Test
    void aLongConversationForgetsItsOldestTurnsButKeepsTheSystemMessage() {
        ConversationMemories memories = new ConversationMemories(
                () -> new ConversationMemories.Budget(20, new Words()), 10);
        ChatMemory m = memories.get("c");
        m.add(SystemMessage.from("be brief")); // 4 tokens
        m.add(UserMessage.from("one two three")); // 5
        m.add(AiMessage.from("four five six")); // 5
        m.add(UserMessage.from("seven eight nine")); // 5: 19 in all, fits
        assertThat(memories.messages("c")).hasSize(4);

        m.add(AiMessage.from("ten")); // 3 more: 22 > 20, so the oldest message after the system message goes
        assertThat(memories.messages("c")).first().isEqualTo(SystemMessage.from("be brief"));
        assertThat(memories.messages("c")).doesNotContain(UserMessage.from("one two three"));
        assertThat(memories.messages("c")).contains(UserMessage.from("seven eight nine"), AiMessage.from("ten"));
    }

    @Test
    void aQuestionThatCannotFitEvenAloneIsRefusedNotSilentlyDropped() {
        ConversationMemories memories = new ConversationMemories(
                () -> new ConversationMemories.Budget(10, new Words()), 10);
        ChatMemory m = memories.get("c");
        m.add(SystemMessage.from("be brief")); // 4 tokens

        assertThatThrownBy(() -> m.add(UserMessage.from("a b c d e"))) // 7 + 4 > 10
                .isInstanceOf(InvalidChatRequestException.class)
                .hasMessageContaining("needs about 11 tokens, more than the 10")
                .hasMessageContaining("rag.max-results").hasMessageContaining("langchain4j.offload.context-length");
        assertThat(memories.messages("c")).containsExactly(SystemMessage.from("be brief"));
    }

    @Test
    void theLeastRecentlyUsedConversationIsForgottenFirst() {
        ConversationMemories memories = new ConversationMemories(
                () -> new ConversationMemories.Budget(100, new Words()), 2);
        memories.get("a").add(UserMessage.from("a"));
        memories.get("b").add(UserMessage.from("b"));
        memories.get("a"); // a is now more recent than b
        memories.get("c").add(UserMessage.from("c"));

        assertThat(memories.size()).isEqualTo(2);
        assertThat(memories.messages("b")).isEmpty();
        assertThat(memories.messages("a")).containsExactly(UserMessage.from("a"));
    }

    @Test
    void theBudgetIsAskedForOnceAndOnlyWhenAConversationStarts() {
        AtomicInteger asked = new AtomicInteger();
        ConversationMemories memories = new ConversationMemories(() -> {
            asked.incrementAndGet();
            return new ConversationMemories.Budget(100, new Words());
        }, 10);
        assertThat(memories.budgetIfKnown()).isEmpty();
        memories.get("a");
        memories.get("b");
        assertThat(asked).hasValue(1);
        assertThat(memories.budgetIfKnown()).map(ConversationMemories.Budget::maxTokens).hasValue(100);
    }

    @Test
    void theBudgetLeavesRoomForTheReplyOrSaysWhatToChange() {
        assertThat(ConversationMemories.tokenBudget(4096, 512)).isEqualTo(4096 - 512 - 16);
        assertThat(ConversationMemories.tokenBudget(4096, null)).isEqualTo(4096 - 1024 - 16);
        assertThatThrownBy(() -> ConversationMemories.tokenBudget(128, 100))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("context of 128 tokens leaves 12 tokens")
                .hasMessageContaining("langchain4j.offload.chat-model.max-tokens");
    }
}

package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class ChatRequestTest {

    @Test
    void aMissingConversationIdStartsANewConversation() {
        ChatRequest a = new ChatRequest(null, "  What is offload4j? ").validated();
        ChatRequest b = new ChatRequest(" ", "What is offload4j?").validated();

        assertThat(a.conversationId()).matches("[A-Za-z0-9_-]{1,64}").isNotEqualTo(b.conversationId());
        assertThat(a.message()).isEqualTo("What is offload4j?");
        assertThat(new ChatRequest("tab-7_x", "hi").validated().conversationId()).isEqualTo("tab-7_x");
    }

    @Test
    void badRequestsAreRefusedWithTheFieldAndTheRule() {
        assertThatThrownBy(() -> new ChatRequest("c", null).validated())
                .isInstanceOf(InvalidChatRequestException.class).hasMessageContaining("'message' is required");
        assertThatThrownBy(() -> new ChatRequest("c", "x".repeat(ChatRequest.MAX_MESSAGE_CHARS + 1)).validated())
                .hasMessageContaining("'message' has 4001 characters; at most 4000");
        assertThatThrownBy(() -> new ChatRequest("a/b", "hi").validated())
                .hasMessageContaining("'conversationId' must be 1 to 64 letters, digits, '-' or '_'; was 'a/b'");
        assertThatThrownBy(() -> new ChatRequest("x".repeat(65), "hi").validated())
                .hasMessageContaining("'conversationId'");
    }
}

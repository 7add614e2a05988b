package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The builder's speculative decoding options: a chat model on an engine with prompt lookup replies as without. */
@Timeout(60)
class SpeculativeChatModelTest {

    @Test
    void promptLookupThroughTheBuilderKeepsTheReply() {
        try (OffloadEngine engine = OffloadEngine.builder().modelPath(Stories.path()).device("cpu").threads(1)
                .contextLength(Stories.CONTEXT).contextBeyondTraining(true).promptLookup(true).maxDraftTokens(5)
                .build()) {
            assertThat(engine.inferenceEngine().stats().verifications()).isZero();
            ChatModel model = OffloadChatModel.builder().engine(engine).temperature(0.0).maxTokens(20).build();
            String reply = model.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time")).build())
                    .aiMessage().text();
            assertThat(Stories.CONTINUATION).startsWith(reply);
            assertThat(reply).hasSizeGreaterThan(40);
            assertThat(engine.inferenceEngine().stats().draftedTokens()).isPositive();
        }
    }
}

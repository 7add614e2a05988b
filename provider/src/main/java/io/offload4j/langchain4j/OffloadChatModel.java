package io.offload4j.langchain4j;

import dev.langchain4j.exception.LangChain4jException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.offload4j.engine.FinishReason;
import io.offload4j.engine.Generation;
import io.offload4j.engine.GenerationResult;

/**
 * A LangChain4j {@link ChatModel} that runs a GGUF model in this JVM. Thread-safe: concurrent calls are queued
 * and interleaved by the engine's scheduler (see {@link OffloadEngine}); the calling thread waits for its reply.
 *
 * <pre>{@code
 * ChatModel model = OffloadChatModel.builder()
 *         .modelPath("models/qwen2.5-7b-instruct-q4_k_m.gguf")
 *         .temperature(0.2)
 *         .maxTokens(512)
 *         .build();
 * String answer = model.chat("Why is the sky blue?");
 * }</pre>
 *
 * The option names are those of {@code OllamaChatModel}. {@link #doChat} is implemented and {@code chat} is not
 * overridden, so LangChain4j's listeners and default-parameter merging work as with every other provider.
 */
public class OffloadChatModel extends OffloadBaseChatModel implements ChatModel {

    protected OffloadChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest chatRequest) {
        Prepared prepared = prepare(chatRequest);
        ReplyListener listener = new ReplyListener(engine, splitter(prepared),
                new ReplyAssembler(prepared.toolFormat(), prepared.toolNames()));
        GenerationResult result;
        try {
            Generation generation = engine.inferenceEngine().submit(prepared.request(), listener);
            result = generation.join();
        } catch (RuntimeException | Error e) {
            throw translate(e);
        }
        if (result.finishReason() == FinishReason.CANCELLED && Thread.currentThread().isInterrupted()) {
            throw new LangChain4jException("interrupted while waiting for " + modelName + "; the generation was"
                    + " cancelled");
        }
        return response(prepared, result, listener.finishReply(), listener.thinking());
    }

    /** Builds an {@link OffloadChatModel}; see the option descriptions. */
    public static class Builder extends OffloadBaseChatModel.Builder<OffloadChatModel, Builder> {

        protected Builder() {}

        @Override
        public OffloadChatModel build() {
            return new OffloadChatModel(this);
        }
    }
}

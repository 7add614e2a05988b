package io.offload4j.langchain4j;

import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.onCompleteResponse;
import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.onCompleteToolCall;
import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.onPartialResponse;
import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.withLoggingExceptions;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.CompleteToolCall;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import io.offload4j.engine.Generation;
import io.offload4j.engine.GenerationResult;
import java.util.List;

/**
 * A LangChain4j {@link StreamingChatModel} that runs a GGUF model in this JVM. Tokens are produced on the engine's
 * scheduler thread and handed to the handler there, never on the calling thread; {@code chat} returns at once.
 *
 * <ul>
 *   <li>{@code onPartialResponse} receives whole UTF-8 characters, never part of a stop sequence or of a tool
 *       call; the pieces add up to the final message's text. Its {@link StreamingHandle} cancels: generation
 *       stops before the next token, no further callback is made and the sequence's KV cache is freed.</li>
 *   <li>Tool calls are parsed when the reply is complete: {@code onCompleteToolCall} for each, then
 *       {@code onCompleteResponse}.</li>
 *   <li>An exception thrown by a handler method goes to {@code onError} (as LangChain4j's providers do); the
 *       generation carries on. Every failure of the request reaches {@code onError}, except unsupported features
 *       ({@link UnsupportedFeatureException}), which {@code chat} throws before anything starts.</li>
 * </ul>
 * Thread-safe; the handler callbacks of one request run one at a time, so they should return quickly (every
 * request served by the engine waits meanwhile).
 */
public class OffloadStreamingChatModel extends OffloadBaseChatModel implements StreamingChatModel {

    protected OffloadStreamingChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public void doChat(ChatRequest chatRequest, StreamingChatResponseHandler handler) {
        Prepared prepared;
        try {
            prepared = prepare(chatRequest);
        } catch (UnsupportedFeatureException e) {
            throw e;
        } catch (RuntimeException e) {
            withLoggingExceptions(() -> handler.onError(translate(e)));
            return;
        }
        Stream stream = new Stream(prepared, handler);
        try {
            stream.generation = engine.inferenceEngine().submit(prepared.request(), stream);
        } catch (RuntimeException e) {
            withLoggingExceptions(() -> handler.onError(translate(e)));
        }
    }

    /** One streamed reply: engine listener and LangChain4j streaming handle. */
    private final class Stream extends ReplyListener implements StreamingHandle {

        private final Prepared prepared;
        private final StreamingChatResponseHandler handler;
        private volatile boolean cancelled;
        volatile Generation generation;

        Stream(Prepared prepared, StreamingChatResponseHandler handler) {
            super(engine, new ReplyAssembler(prepared.toolFormat(), prepared.toolNames()));
            this.prepared = prepared;
            this.handler = handler;
        }

        @Override
        void shown(String text) {
            if (!text.isEmpty() && !cancelled) {
                onPartialResponse(handler, text, this);
            }
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }

        @Override
        public void cancel() {
            cancelled = true; // the engine polls isCancelled() after every token
            Generation g = generation;
            if (g != null) {
                g.cancel(); // also stops a prefill or a request still in the queue
            }
        }

        @Override
        public void onComplete(GenerationResult result) {
            if (cancelled) {
                return;
            }
            ChatResponse response;
            try {
                ReplyAssembler.Reply reply = assembler().finish();
                shown(reply.remainder());
                List<ToolExecutionRequest> calls = reply.toolCalls();
                for (int i = 0; i < calls.size(); i++) {
                    onCompleteToolCall(handler, new CompleteToolCall(i, calls.get(i)));
                }
                response = response(prepared, result, reply);
            } catch (RuntimeException e) {
                withLoggingExceptions(() -> handler.onError(e));
                return;
            }
            onCompleteResponse(handler, response);
        }

        @Override
        public void onError(Throwable error) {
            if (!cancelled) {
                withLoggingExceptions(() -> handler.onError(translateQuietly(error)));
            }
        }
    }

    private static Throwable translateQuietly(Throwable t) {
        try {
            return translate(t);
        } catch (Error e) {
            return e;
        }
    }

    /** Builds an {@link OffloadStreamingChatModel}; see the option descriptions. */
    public static class Builder extends OffloadBaseChatModel.Builder<OffloadStreamingChatModel, Builder> {

        protected Builder() {}

        @Override
        public OffloadStreamingChatModel build() {
            return new OffloadStreamingChatModel(this);
        }
    }
}

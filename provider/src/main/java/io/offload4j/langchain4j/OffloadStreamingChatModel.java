package io.offload4j.langchain4j;

import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.onCompleteResponse;
import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.onCompleteToolCall;
import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.onPartialResponse;
import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.onPartialThinking;
import static dev.langchain4j.internal.InternalStreamingChatResponseHandlerUtils.withLoggingExceptions;

import dev.langchain4j.agent.tool.ToolExecutionRequest;
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
 * scheduler thread; each request's handler is called on a virtual thread of its own, in order, one call at a time,
 * never on the engine thread and never on the calling thread; {@code chat} returns at once. A slow handler
 * therefore slows only its own stream: the engine goes on decoding every request (the pieces queue up for the
 * slow handler).
 *
 * <ul>
 *   <li>{@code onPartialResponse} receives whole UTF-8 characters, never part of a stop sequence or of a tool
 *       call; the pieces add up to the final message's text. Its {@link StreamingHandle} cancels: generation
 *       stops before the next token, no further callback is made and the sequence's KV cache is freed.</li>
 *   <li>Tool calls are parsed when the reply is complete: {@code onCompleteToolCall} for each, then
 *       {@code onCompleteResponse}.</li>
 *   <li>An exception thrown by a handler method goes to {@code onError} (as LangChain4j's providers do); the
 *       generation carries on. Every failure of the request reaches {@code onError}, a refused request
 *       (unsupported feature, invalid parameters) too, so that listeners see it; only a null handler makes
 *       {@code chat} throw.</li>
 * </ul>
 * Thread-safe.
 */
public class OffloadStreamingChatModel extends OffloadBaseChatModel implements StreamingChatModel {

    protected OffloadStreamingChatModel(Builder builder) {
        super(builder);
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * Refuses a null handler at once (LangChain4j would wrap it for its listeners, and every token would then
     * fail inside the wrapper), then runs LangChain4j's listener-aware {@code chat}.
     */
    @Override
    public void chat(ChatRequest chatRequest, StreamingChatResponseHandler handler) {
        requireHandler(handler);
        StreamingChatModel.super.chat(chatRequest, handler);
    }

    private static void requireHandler(StreamingChatResponseHandler handler) {
        if (handler == null) {
            throw new IllegalArgumentException("the streaming response handler is null; pass a handler that"
                    + " receives the reply (onPartialResponse, onCompleteResponse, onError)");
        }
    }

    @Override
    public void doChat(ChatRequest chatRequest, StreamingChatResponseHandler handler) {
        requireHandler(handler);
        HandlerThread callbacks = new HandlerThread();
        Prepared prepared;
        try {
            prepared = prepare(chatRequest);
        } catch (RuntimeException e) {
            callbacks.run(() -> withLoggingExceptions(() -> handler.onError(translate(e))));
            callbacks.end();
            return;
        }
        Stream stream = new Stream(prepared, handler, callbacks);
        try {
            stream.generation = engine.inferenceEngine().submit(prepared.request(), stream);
        } catch (RuntimeException e) {
            callbacks.run(() -> withLoggingExceptions(() -> handler.onError(translate(e))));
            callbacks.end();
        }
    }

    /** One streamed reply: engine listener and LangChain4j streaming handle. */
    private final class Stream extends ReplyListener implements StreamingHandle {

        private final Prepared prepared;
        private final StreamingChatResponseHandler handler;
        private final HandlerThread callbacks;
        private volatile boolean cancelled;
        volatile Generation generation;

        Stream(Prepared prepared, StreamingChatResponseHandler handler, HandlerThread callbacks) {
            super(engine, splitter(prepared), new ReplyAssembler(prepared.toolFormat(), prepared.toolNames()));
            this.prepared = prepared;
            this.handler = handler;
            this.callbacks = callbacks;
        }

        /** Runs a handler call on the request's own thread, unless the stream was cancelled meanwhile. */
        private void toHandler(Runnable call) {
            callbacks.run(() -> {
                if (!cancelled) {
                    call.run();
                }
            });
        }

        @Override
        void shown(String text) {
            if (!text.isEmpty() && !cancelled) {
                toHandler(() -> onPartialResponse(handler, text, this));
            }
        }

        @Override
        void thought(String text) {
            if (returnThinking && !text.isEmpty() && !cancelled) {
                toHandler(() -> onPartialThinking(handler, text, this));
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
            try {
                if (cancelled) {
                    return;
                }
                ChatResponse response;
                try {
                    ReplyAssembler.Reply reply = finishReply();
                    shown(reply.remainder());
                    List<ToolExecutionRequest> calls = reply.toolCalls();
                    for (int i = 0; i < calls.size(); i++) {
                        CompleteToolCall call = new CompleteToolCall(i, calls.get(i));
                        toHandler(() -> onCompleteToolCall(handler, call));
                    }
                    response = response(prepared, result, reply, thinking());
                } catch (RuntimeException e) {
                    toHandler(() -> withLoggingExceptions(() -> handler.onError(e)));
                    return;
                }
                toHandler(() -> onCompleteResponse(handler, response));
            } finally {
                callbacks.end();
            }
        }

        @Override
        public void onError(Throwable error) {
            if (!cancelled) {
                Throwable translated = translateQuietly(error);
                toHandler(() -> withLoggingExceptions(() -> handler.onError(translated)));
            }
            callbacks.end();
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

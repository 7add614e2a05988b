package io.offload4j.samples.ragweb;

import dev.langchain4j.rag.content.Content;
import dev.langchain4j.service.TokenStream;
import java.util.List;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.http.MediaType;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RequestParam;
import org.springframework.web.bind.annotation.RestController;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * {@code GET /api/chat/stream?message=…&conversationId=…} (what a browser's {@code EventSource} sends) and
 * {@code POST /api/chat/stream} with a JSON {@link ChatRequest}: the answer as server-sent events, in this order:
 * <ol>
 *   <li>{@code sources}: the retrieved passages ({@link ChatAnswer.Source} list);</li>
 *   <li>{@code token}, many: {@code {"text": "…"}}, pieces of the answer as the model writes them;</li>
 *   <li>{@code done}: the whole {@link ChatAnswer} (text, usage, timings, sources), then the stream ends;</li>
 * </ol>
 * or, when something goes wrong, {@code failure}: {@code {"message": "…"}} and the end of the stream. A client that
 * disconnects cancels the generation before the model's next token.
 */
@RestController
class ChatStreamController {

    private final DocsAssistant assistant;
    private final RagProperties rag;

    ChatStreamController(DocsAssistant assistant, RagProperties rag) {
        this.assistant = assistant;
        this.rag = rag;
    }

    @GetMapping(path = "/api/chat/stream", produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    SseEmitter streamGet(@RequestParam(name = "message", required = false) String message,
                         @RequestParam(name = "conversationId", required = false) String conversationId) {
        return stream(new ChatRequest(conversationId, message));
    }

    @PostMapping(path = "/api/chat/stream", consumes = MediaType.APPLICATION_JSON_VALUE,
            produces = MediaType.TEXT_EVENT_STREAM_VALUE)
    SseEmitter streamPost(@RequestBody ChatRequest request) {
        return stream(request);
    }

    private SseEmitter stream(ChatRequest request) {
        SseRelay relay = new SseRelay(rag.streamTimeout().toMillis());
        ChatRequest r;
        try {
            r = request.validated();
        } catch (InvalidChatRequestException e) {
            relay.fail(e.getMessage()); // inside the stream: an EventSource cannot read an error response's body
            return relay.emitter();
        }
        AtomicReference<List<Content>> sources = new AtomicReference<>(List.of());
        try {
            TokenStream stream = assistant.answerStreaming(r.conversationId(), r.message());
            stream.onRetrieved(retrieved -> {
                        sources.set(retrieved);
                        relay.send("sources", ChatAnswer.Source.all(retrieved));
                    })
                    .onPartialResponseWithContext((partial, context) -> {
                        if (relay.isOpen()) {
                            relay.send("token", new Token(partial.text()));
                        } else {
                            context.streamingHandle().cancel(); // nobody is listening: free the engine
                        }
                    })
                    .onCompleteResponse(response -> {
                        relay.send("done", ChatAnswer.of(r.conversationId(), response, sources.get()));
                        relay.complete();
                    })
                    .onError(error -> relay.fail(ApiErrors.describe(error)))
                    .start();
        } catch (RuntimeException e) { // refused before streaming began (retrieval, memory, request validation)
            relay.fail(ApiErrors.describe(e));
        }
        return relay.emitter();
    }

    /** The data of a {@code token} event. */
    record Token(String text) {}
}

package io.offload4j.samples.ragweb;

import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.langchain4j.rag.content.Content;
import jakarta.servlet.http.HttpServletResponse;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import org.springframework.http.HttpStatus;
import org.springframework.http.MediaType;
import org.springframework.http.ProblemDetail;
import org.springframework.web.bind.annotation.PostMapping;
import org.springframework.web.bind.annotation.RequestBody;
import org.springframework.web.bind.annotation.RestController;
import tools.jackson.databind.ObjectMapper;

/**
 * {@code POST /api/chat}: a question in, the whole answer out (JSON both ways).
 *
 * <p>A client that hangs up must not keep the model busy (a reply of 512 tokens takes seconds of a shared engine).
 * A servlet container notices a closed connection only when it writes to it, so while the model works this
 * controller writes one space every {@link #PROBE_INTERVAL_MILLIS} (leading whitespace is valid JSON) once
 * {@link #FIRST_PROBE_MILLIS} have passed; when a write fails, the generation is cancelled before its next token.
 * Errors found before then (a refused question, a prompt too long for the context) keep their status; one that
 * happens after the first space has committed status 200 is sent as the same problem-detail JSON, whose
 * {@code status} field tells it apart from an answer.
 */
@RestController
class ChatController {

    static final long FIRST_PROBE_MILLIS = 400;
    static final long PROBE_INTERVAL_MILLIS = 200;

    private final DocsAssistant assistant;
    private final ObjectMapper json;

    ChatController(DocsAssistant assistant, ObjectMapper json) {
        this.assistant = assistant;
        this.json = json;
    }

    @PostMapping(path = "/api/chat", consumes = MediaType.APPLICATION_JSON_VALUE,
            produces = MediaType.APPLICATION_JSON_VALUE)
    void chat(@RequestBody ChatRequest request, HttpServletResponse response) throws IOException {
        ChatRequest r = request.validated();
        Generation g = new Generation();
        assistant.answerStreaming(r.conversationId(), r.message())
                .onRetrieved(g.sources::set)
                .onPartialResponseWithContext((partial, context) -> g.tokenArrived(context.streamingHandle()))
                .onCompleteResponse(g.result::complete)
                .onError(g.result::completeExceptionally)
                .start();
        ChatResponse answer = awaitWhileClientListens(g, response);
        if (answer == null) {
            return; // the client is gone: nothing to send, the generation was cancelled
        }
        write(response, HttpStatus.OK, ChatAnswer.of(r.conversationId(), answer, g.sources.get()));
    }

    /** The answer, or null once the client has gone (the generation is then cancelled). */
    private ChatResponse awaitWhileClientListens(Generation g, HttpServletResponse response) throws IOException {
        long start = System.nanoTime();
        while (true) {
            try {
                return g.result.get(PROBE_INTERVAL_MILLIS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException stillWorking) {
                if (System.nanoTime() - start >= TimeUnit.MILLISECONDS.toNanos(FIRST_PROBE_MILLIS)
                        && !clientListens(response)) {
                    g.cancel();
                    return null;
                }
            } catch (ExecutionException e) {
                RuntimeException failure = e.getCause() instanceof RuntimeException re ? re
                        : new IllegalStateException(ApiErrors.describe(e.getCause()), e.getCause());
                if (!response.isCommitted()) {
                    throw failure; // ApiErrors answers with the right status
                }
                HttpStatus status = ApiErrors.statusOf(failure);
                write(response, status, ProblemDetail.forStatusAndDetail(status, ApiErrors.describe(failure)));
                return null;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                g.cancel();
                return null;
            }
        }
    }

    /** Writes a space and flushes it: false when the connection is closed. */
    private static boolean clientListens(HttpServletResponse response) {
        try {
            if (!response.isCommitted()) {
                response.setStatus(HttpStatus.OK.value());
                response.setContentType(MediaType.APPLICATION_JSON_VALUE);
                response.setCharacterEncoding(StandardCharsets.UTF_8.name());
            }
            OutputStream out = response.getOutputStream();
            out.write(' ');
            out.flush();
            return true;
        } catch (IOException | RuntimeException gone) {
            return false;
        }
    }

    private void write(HttpServletResponse response, HttpStatus status, Object body) throws IOException {
        if (!response.isCommitted()) {
            response.setStatus(status.value());
            response.setContentType(body instanceof ProblemDetail ? MediaType.APPLICATION_PROBLEM_JSON_VALUE
                    : MediaType.APPLICATION_JSON_VALUE);
            response.setCharacterEncoding(StandardCharsets.UTF_8.name());
        }
        try {
            response.getOutputStream().write(json.writeValueAsBytes(body));
            response.getOutputStream().flush();
        } catch (IOException gone) {
            // the client left just as the answer was ready: nothing else to do
        }
    }

    /** One request's generation as its callbacks report it (they run on the engine's thread). */
    private static final class Generation {
        final CompletableFuture<ChatResponse> result = new CompletableFuture<>();
        final AtomicReference<List<Content>> sources = new AtomicReference<>(List.of());
        private final AtomicBoolean cancelled = new AtomicBoolean();

        void tokenArrived(StreamingHandle handle) {
            if (cancelled.get()) {
                handle.cancel(); // the model stops before its next token
            }
        }

        void cancel() {
            cancelled.set(true);
        }
    }
}

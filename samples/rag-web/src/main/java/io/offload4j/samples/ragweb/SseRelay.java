package io.offload4j.samples.ragweb;

import java.io.IOException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.springframework.http.MediaType;
import org.springframework.web.servlet.mvc.method.annotation.SseEmitter;

/**
 * Sends server-sent events to one client, in order, from a thread of its own. Streaming callbacks run on the
 * engine's single scheduler thread, which serves every conversation; writing to a slow or stalled client there
 * would hold up all of them, so events are handed to this relay's virtual thread instead.
 *
 * <p>Each event's data is JSON: a token such as {@code " the"} sent as plain text would lose its leading space
 * (SSE strips one after {@code data:}), and a newline would split it.
 */
final class SseRelay {

    private final SseEmitter emitter;
    private final ExecutorService sender = Executors.newSingleThreadExecutor(Thread.ofVirtual()
            .name("sse-relay-", 0).factory());
    private final AtomicBoolean open = new AtomicBoolean(true);

    SseRelay(long timeoutMillis) {
        emitter = new SseEmitter(timeoutMillis);
        emitter.onCompletion(this::closed);
        emitter.onError(e -> closed());
        emitter.onTimeout(() -> {
            closed();
            emitter.complete();
        });
    }

    /** What the controller returns to Spring MVC. */
    SseEmitter emitter() {
        return emitter;
    }

    /** False once the client went away, the stream timed out or it was completed: stop producing events. */
    boolean isOpen() {
        return open.get();
    }

    /** Queues an event named {@code name} with {@code data} as JSON. */
    void send(String name, Object data) {
        submit(() -> {
            if (!open.get()) {
                return;
            }
            try {
                emitter.send(SseEmitter.event().name(name).data(data, MediaType.APPLICATION_JSON));
            } catch (IOException | IllegalStateException e) { // the client is gone
                closed();
            }
        });
    }

    /** Queues the end of the stream after the events already queued. */
    void complete() {
        submit(() -> {
            if (open.getAndSet(false)) {
                emitter.complete();
            }
        });
        sender.shutdown();
    }

    /** Queues a {@code failure} event with {@code message}, then the end of the stream. */
    void fail(String message) {
        send("failure", new Failure(message));
        complete();
    }

    private void submit(Runnable task) {
        try {
            sender.execute(task);
        } catch (RejectedExecutionException e) {
            // completed already: nothing more goes out
        }
    }

    private void closed() {
        open.set(false);
        sender.shutdown();
    }

    /** The data of a {@code failure} event. */
    record Failure(String message) {}
}

package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A handler that sleeps 20 ms per piece slows only its own stream: handlers run on their request's own virtual
 * thread, so the engine keeps decoding and the other streams keep flowing. (When handlers ran on the engine
 * thread, a 30-token stream beside such a handler took at least 30 × 20 ms.)
 */
class SlowHandlerTest {

    private static final int TOKENS = 30;
    private static final long SLEEP_MS = 20;
    private static OffloadEngine engine;

    @BeforeAll
    static void load() {
        engine = Stories.engine();
    }

    @AfterAll
    static void close() {
        if (engine != null) { // null when the shared data is absent and the class was skipped
            engine.close();
        }
    }

    @Test
    void aSlowHandlerSlowsOnlyItsOwnStream() throws Exception {
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).temperature(0.0)
                .maxTokens(TOKENS).build();
        stream(model, 0).get(30, TimeUnit.SECONDS); // warm-up
        long alone = timed(model);
        Recorder slow = new Recorder(SLEEP_MS);
        OffloadStreamingChatModel slowModel = OffloadStreamingChatModel.builder().engine(engine).temperature(0.0)
                .maxTokens(2 * TOKENS).build();
        slowModel.chat("Once upon a time", slow);
        long beside = timed(model);
        ChatResponse slowResponse = slow.done.get(60, TimeUnit.SECONDS);
        System.out.printf("a %d-token stream: %.1f ms alone, %.1f ms beside a handler sleeping %d ms per piece"
                + " (that stream took %d pieces)%n", TOKENS, alone / 1e6, beside / 1e6, SLEEP_MS, slow.pieces.size());
        assertThat(String.join("", slow.pieces)).isEqualTo(slowResponse.aiMessage().text()); // in order, complete
        assertThat(beside / 1e6).as("ms beside the slow handler; it would be >= %d if handlers shared the engine"
                + " thread", TOKENS * SLEEP_MS).isLessThan(TOKENS * SLEEP_MS / 2.0);
    }

    private static long timed(OffloadStreamingChatModel model) throws Exception {
        long t0 = System.nanoTime();
        stream(model, 0).get(30, TimeUnit.SECONDS);
        return System.nanoTime() - t0;
    }

    private static CompletableFuture<ChatResponse> stream(OffloadStreamingChatModel model, long sleepMs) {
        Recorder r = new Recorder(sleepMs);
        model.chat("Once upon a time", r);
        return r.done;
    }

    private static final class Recorder implements StreamingChatResponseHandler {
        final List<String> pieces = new CopyOnWriteArrayList<>();
        final CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        private final long sleepMs;

        Recorder(long sleepMs) {
            this.sleepMs = sleepMs;
        }

        @Override
        public void onPartialResponse(String text) {
            pieces.add(text);
            if (sleepMs > 0) {
                try {
                    Thread.sleep(sleepMs);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        @Override
        public void onCompleteResponse(ChatResponse response) {
            done.complete(response);
        }

        @Override
        public void onError(Throwable error) {
            done.completeExceptionally(error);
        }
    }
}

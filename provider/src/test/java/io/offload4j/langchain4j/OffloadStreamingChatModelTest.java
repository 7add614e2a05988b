package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.langchain4j.model.output.FinishReason;
import io.offload4j.engine.EngineStats;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link OffloadStreamingChatModel}: threads, pieces, cancellation, failing handlers. */
@Timeout(60)
class OffloadStreamingChatModelTest {

    private static OffloadEngine engine;

    @BeforeAll
    static void load() {
        engine = Stories.engine();
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    /** Records callbacks; completes when the stream ends either way. */
    static class Recorder implements StreamingChatResponseHandler {
        final List<String> pieces = new CopyOnWriteArrayList<>();
        final Set<Thread> threads = ConcurrentHashMap.newKeySet();
        final CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        final List<Throwable> errors = new CopyOnWriteArrayList<>();

        @Override
        public void onPartialResponse(String text) {
            threads.add(Thread.currentThread());
            pieces.add(text);
        }

        @Override
        public void onCompleteResponse(ChatResponse response) {
            threads.add(Thread.currentThread());
            done.complete(response);
        }

        @Override
        public void onError(Throwable error) {
            threads.add(Thread.currentThread());
            errors.add(error);
            done.completeExceptionally(error);
        }

        ChatResponse await() throws Exception {
            return done.get(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void piecesArriveOnTheRequestsOwnThreadAndAddUpToTheReply() throws Exception {
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).temperature(0.0)
                .maxTokens(40).build();
        Recorder r = new Recorder();
        model.chat("Once upon a time", r);
        ChatResponse response = r.await();
        assertThat(String.join("", r.pieces)).isEqualTo(response.aiMessage().text());
        assertThat(response.aiMessage().text()).startsWith(Stories.CONTINUATION);
        assertThat(r.pieces).hasSizeGreaterThan(10).allSatisfy(p -> assertThat(p).isNotEmpty());
        assertThat(r.threads).hasSize(1);
        Thread t = r.threads.iterator().next();
        assertThat(t).isNotEqualTo(Thread.currentThread());
        assertThat(t.getName()).startsWith("offload4j-stream-handler-"); // never the engine thread
        assertThat(t.isVirtual()).isTrue();
        assertThat(response.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(response.tokenUsage().outputTokenCount()).isEqualTo(40);
        // the same reply as the blocking model
        ChatModel blocking = OffloadChatModel.builder().engine(engine).temperature(0.0).maxTokens(40).build();
        assertThat(blocking.chat("Once upon a time")).isEqualTo(response.aiMessage().text());
    }

    @Test
    void piecesAreWholeUtf8Characters(@TempDir Path dir) throws Exception {
        // A scripted reply of characters that take 2, 3 and 4 UTF-8 bytes: stories260K's vocabulary spells
        // them with one byte token each, so most tokens end inside a character.
        String reply = "Grüße, 世界! 😀 ok";
        try (OffloadEngine scripted = ScriptedQwen.engine(dir, turn -> reply)) {
            OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(scripted).build();
            Recorder r = new Recorder();
            model.chat("Say hi", r);
            ChatResponse response = r.await();
            assertThat(response.aiMessage().text().strip()).isEqualTo(reply);
            assertThat(String.join("", r.pieces)).isEqualTo(response.aiMessage().text());
            for (String piece : r.pieces) {
                assertThat(piece).doesNotContain("\uFFFD");
                assertThat(Character.isHighSurrogate(piece.charAt(piece.length() - 1))).as(piece).isFalse();
                assertThat(Character.isLowSurrogate(piece.charAt(0))).as(piece).isFalse();
            }
        }
    }

    @Test
    void cancellingThroughTheStreamingHandleStopsAtOnceAndFreesTheKvCache() throws Exception {
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).temperature(0.0).build();
        EngineStats before = engine.stats();
        AtomicInteger partials = new AtomicInteger();
        AtomicInteger afterCancel = new AtomicInteger();
        CompletableFuture<StreamingHandle> cancelled = new CompletableFuture<>();
        Recorder r = new Recorder() {
            @Override
            public void onPartialResponse(PartialResponse partial, PartialResponseContext context) {
                if (context.streamingHandle().isCancelled()) {
                    afterCancel.incrementAndGet();
                }
                if (partials.incrementAndGet() == 3) {
                    context.streamingHandle().cancel();
                    cancelled.complete(context.streamingHandle());
                }
            }
        };
        model.chat("Once upon a time", r);
        StreamingHandle handle = cancelled.get(30, TimeUnit.SECONDS);
        assertThat(handle.isCancelled()).isTrue();
        // No callback after cancel(); the sequence ends at once and its KV cache is released and freed.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (engine.stats().completed() == before.completed() && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        EngineStats after = engine.stats();
        assertThat(after.completed()).isEqualTo(before.completed() + 1);
        assertThat(after.running()).isZero();
        assertThat(after.runningKvCacheBytes()).isZero();
        assertThat(after.prefixCacheEntries()).isEqualTo(before.prefixCacheEntries());
        Thread.sleep(100);
        assertThat(partials.get()).isEqualTo(3);
        assertThat(afterCancel.get()).isZero();
        assertThat(r.done).isNotDone();
        handle.cancel(); // idempotent
        assertThat(handle.isCancelled()).isTrue();
    }

    @Test
    void aThrowingHandlerGetsOnErrorAndTheEngineCarriesOn() throws Exception {
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).temperature(0.0)
                .maxTokens(10).build();
        RuntimeException bug = new RuntimeException("bug in user code");
        Recorder r = new Recorder() {
            @Override
            public void onPartialResponse(String text) {
                super.onPartialResponse(text);
                throw bug;
            }

            @Override
            public void onError(Throwable error) {
                errors.add(error); // every throw is reported; the stream goes on
            }
        };
        model.chat("Once upon a time", r);
        ChatResponse response = r.await();
        assertThat(r.errors).hasSize(r.pieces.size()).allSatisfy(e -> assertThat(e).isSameAs(bug));
        assertThat(String.join("", r.pieces)).isEqualTo(response.aiMessage().text());

        Recorder next = new Recorder();
        model.chat("Once upon a time", next);
        assertThat(next.await().aiMessage().text()).isEqualTo(response.aiMessage().text());
    }

    @Test
    void failuresGoToOnError() throws Exception {
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).build();
        Recorder r = new Recorder();
        model.chat(ChatRequest.builder().messages(UserMessage.from("Once upon a time ".repeat(100))).build(), r);
        assertThat(r.done).failsWithin(10, TimeUnit.SECONDS);
        assertThat(r.errors).singleElement().isInstanceOf(InvalidRequestException.class);
        assertThat(r.pieces).isEmpty();
    }

    @Test
    void aRefusedRequestGoesToOnErrorSoListenersSeeIt() throws Exception {
        java.util.List<Throwable> seen = new java.util.concurrent.CopyOnWriteArrayList<>();
        dev.langchain4j.model.chat.listener.ChatModelListener listener =
                new dev.langchain4j.model.chat.listener.ChatModelListener() {
                    @Override
                    public void onError(dev.langchain4j.model.chat.listener.ChatModelErrorContext context) {
                        seen.add(context.error());
                    }
                };
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine)
                .listeners(java.util.List.of(listener)).build();
        Recorder r = new Recorder();
        model.chat(ChatRequest.builder().messages(UserMessage.from("x")).modelName("gpt-4o").build(), r);
        assertThat(r.done).failsWithin(10, TimeUnit.SECONDS);
        assertThat(r.errors).singleElement()
                .isInstanceOf(dev.langchain4j.exception.UnsupportedFeatureException.class);
        assertThat(seen).singleElement()
                .isInstanceOf(dev.langchain4j.exception.UnsupportedFeatureException.class);
    }

    @Test
    void aNullHandlerIsRefusedAtOnce() {
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).build();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> model.chat("Once upon a time",
                        (dev.langchain4j.model.chat.response.StreamingChatResponseHandler) null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("handler");
    }
}

package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.langchain4j.service.AiServices;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.WriteListener;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.mock.web.MockHttpServletResponse;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/**
 * Issue 19: {@code POST /api/chat} stops generating for a client that has hung up. A model that writes a token every
 * 10 ms (a 1,000-token reply: 10 s) behind the real AI service, and a response whose writes fail once the client is
 * "gone", as a servlet container's do.
 */
@Timeout(30)
class ChatControllerCancellationTest {

    private final ObjectMapper json = new ObjectMapper();

    /** Writes {@code tokens} tokens, one every 10 ms, on its own thread, until its handle is cancelled. */
    private static final class SlowModel implements StreamingChatModel {
        final int tokens;
        final AtomicInteger written = new AtomicInteger();
        final AtomicBoolean cancelled = new AtomicBoolean();
        final RuntimeException failure;

        SlowModel(int tokens, RuntimeException failure) {
            this.tokens = tokens;
            this.failure = failure;
        }

        @Override
        public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
            if (failure != null) {
                handler.onError(failure);
                return;
            }
            StreamingHandle handle = new StreamingHandle() {
                @Override
                public void cancel() {
                    cancelled.set(true);
                }

                @Override
                public boolean isCancelled() {
                    return cancelled.get();
                }
            };
            Thread.ofVirtual().start(() -> {
                StringBuilder text = new StringBuilder();
                for (int i = 0; i < tokens && !cancelled.get(); i++) {
                    sleep(10);
                    written.incrementAndGet();
                    text.append("t ");
                    handler.onPartialResponse(new PartialResponse("t "), new PartialResponseContext(handle));
                }
                if (!cancelled.get()) {
                    handler.onCompleteResponse(ChatResponse.builder().aiMessage(AiMessage.from(text.toString()))
                            .build());
                }
            });
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** A response whose writes fail once {@link #hangUp} was called, as after the client closed the connection. */
    private static final class Connection extends MockHttpServletResponse {
        final AtomicBoolean gone = new AtomicBoolean();
        final ByteArrayOutputStream sent = new ByteArrayOutputStream();

        void hangUp() {
            gone.set(true);
        }

        @Override
        public ServletOutputStream getOutputStream() {
            setCommitted(true);
            return new ServletOutputStream() {
                @Override
                public void write(int b) throws IOException {
                    if (gone.get()) {
                        throw new IOException("Broken pipe");
                    }
                    sent.write(b);
                }

                @Override
                public boolean isReady() {
                    return true;
                }

                @Override
                public void setWriteListener(WriteListener listener) {
                }
            };
        }
    }

    private static ChatController controller(SlowModel model) {
        DocsAssistant assistant = AiServices.builder(DocsAssistant.class).streamingChatModel(model)
                .chatMemoryProvider(id -> MessageWindowChatMemory.withMaxMessages(10))
                .contentRetriever(query -> List.of()).build();
        return new ChatController(assistant, new ObjectMapper());
    }

    @Test
    void aClientThatHangsUpStopsTheGenerationWithinAboutASecond() throws Exception {
        SlowModel model = new SlowModel(1_000, null);
        Connection connection = new Connection();
        Thread.ofVirtual().start(() -> {
            sleep(500);
            connection.hangUp();
        });
        long t0 = System.nanoTime();
        controller(model).chat(new io.offload4j.samples.ragweb.ChatRequest(null, "hi"), connection);
        long millis = (System.nanoTime() - t0) / 1_000_000;
        sleep(100); // the model's thread sees the cancellation at its next token
        assertThat(model.cancelled).isTrue();
        assertThat(millis).as("returned after %d ms", millis).isLessThan(2_000);
        assertThat(model.written.get()).as("tokens generated for nobody").isLessThan(200);
    }

    @Test
    void aClientThatStaysGetsTheWholeAnswerAsJsonAfterTheKeepAliveSpaces() throws Exception {
        SlowModel model = new SlowModel(80, null);
        Connection connection = new Connection();
        controller(model).chat(new io.offload4j.samples.ragweb.ChatRequest("c1", "hi"), connection);
        String body = connection.sent.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertThat(body).startsWith(" "); // 800 ms of work: probed with spaces, which JSON allows before a value
        JsonNode answer = json.readTree(body);
        assertThat(answer.get("conversationId").asString()).isEqualTo("c1");
        assertThat(answer.get("answer").asString()).startsWith("t t t");
        assertThat(model.cancelled).isFalse();
        assertThat(connection.getStatus()).isEqualTo(200);
    }

    @Test
    void aFailureBeforeAnythingWasSentKeepsItsStatus() {
        SlowModel model = new SlowModel(0, new dev.langchain4j.exception.InvalidRequestException("too long"));
        assertThatThrownBy(() -> controller(model).chat(new io.offload4j.samples.ragweb.ChatRequest(null, "hi"),
                new Connection())).isInstanceOf(dev.langchain4j.exception.InvalidRequestException.class)
                .hasMessage("too long");
    }
}

package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.listener.ChatModelErrorContext;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import dev.langchain4j.model.chat.listener.ChatModelResponseContext;
import dev.langchain4j.model.chat.response.ChatResponse;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** ChatModelListeners see every request, response and error, with the model's parameters and shared attributes. */
@Timeout(60)
class ListenerTest {

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

    static final class Events implements ChatModelListener {
        final List<String> seen = new CopyOnWriteArrayList<>();
        volatile ChatModelRequestContext request;
        volatile ChatModelResponseContext response;
        volatile ChatModelErrorContext error;

        @Override
        public void onRequest(ChatModelRequestContext context) {
            seen.add("request");
            request = context;
            context.attributes().put("trace", "t-1");
        }

        @Override
        public void onResponse(ChatModelResponseContext context) {
            seen.add("response");
            response = context;
        }

        @Override
        public void onError(ChatModelErrorContext context) {
            seen.add("error");
            error = context;
        }
    }

    @Test
    void blockingModel() {
        Events events = new Events();
        OffloadChatModel model = OffloadChatModel.builder().engine(engine).temperature(0.0).maxTokens(7)
                .listeners(List.of(events)).build();
        ChatResponse r = model.chat(dev.langchain4j.data.message.UserMessage.from("Once upon a time"));
        assertThat(events.seen).containsExactly("request", "response");
        assertThat(events.request.chatRequest().parameters().modelName()).isEqualTo(engine.modelName());
        assertThat(events.request.chatRequest().parameters().temperature()).isEqualTo(0.0);
        assertThat(events.request.chatRequest().parameters().maxOutputTokens()).isEqualTo(7);
        assertThat(events.request.modelProvider()).isEqualTo(ModelProvider.OTHER);
        assertThat(events.response.chatResponse()).isSameAs(r);
        assertThat(events.response.attributes()).containsEntry("trace", "t-1");

        Events failing = new Events();
        OffloadChatModel tooLong = OffloadChatModel.builder().engine(engine).listeners(List.of(failing)).build();
        assertThatThrownBy(() -> tooLong.chat("Once upon a time ".repeat(100)))
                .isInstanceOf(InvalidRequestException.class);
        assertThat(failing.seen).containsExactly("request", "error");
        assertThat(failing.error.error()).isInstanceOf(InvalidRequestException.class);
        assertThat(failing.error.attributes()).containsEntry("trace", "t-1");
    }

    @Test
    void streamingModel() throws Exception {
        Events events = new Events();
        OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(engine).temperature(0.0)
                .maxTokens(7).listeners(List.of(events)).build();
        OffloadStreamingChatModelTest.Recorder r = new OffloadStreamingChatModelTest.Recorder();
        model.chat("Once upon a time", r);
        ChatResponse response = r.await();
        assertThat(events.seen).containsExactly("request", "response");
        assertThat(events.response.chatResponse()).isSameAs(response);
        assertThat(events.response.attributes()).containsEntry("trace", "t-1");

        Events failing = new Events();
        OffloadStreamingChatModel tooLong = OffloadStreamingChatModel.builder().engine(engine)
                .listeners(List.of(failing)).build();
        OffloadStreamingChatModelTest.Recorder fr = new OffloadStreamingChatModelTest.Recorder();
        tooLong.chat("Once upon a time ".repeat(100), fr);
        assertThat(fr.done).failsWithin(10, TimeUnit.SECONDS);
        assertThat(failing.seen).containsExactly("request", "error");
        assertThat(failing.error.error()).isSameAs(fr.errors.get(0)).isInstanceOf(InvalidRequestException.class);
    }
}

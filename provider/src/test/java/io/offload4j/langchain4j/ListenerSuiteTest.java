package io.offload4j.langchain4j;

import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.common.AbstractChatModelListenerIT;
import dev.langchain4j.model.chat.common.AbstractStreamingChatModelListenerIT;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonReferenceSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Nested;

/**
 * LangChain4j's shared listener suites ({@code AbstractChatModelListenerIT}, {@code AbstractStreamingChatModelListenerIT})
 * against both models on stories260K. The failing model asks for a JSON schema that refers to a definition it
 * does not have ({@link InvalidRequestException}: no grammar can be made of it). Flag: {@code supportsTools} off (stories260K's template renders no tools).
 * No assertion is switched off.
 */
class ListenerSuiteTest {

    private static OffloadEngine engine;

    static final ChatRequestParameters BROKEN_SCHEMA = ChatRequestParameters.builder()
            .responseFormat(ResponseFormat.builder().type(ResponseFormatType.JSON)
                    .jsonSchema(JsonSchema.builder().name("broken").rootElement(JsonObjectSchema.builder()
                            .addProperty("x", JsonReferenceSchema.builder().reference("Missing").build()).build())
                            .build())
                    .build())
            .build();

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

    @Nested
    class Blocking extends AbstractChatModelListenerIT {
        @Override
        protected ChatModel createModel(ChatModelListener listener) {
            return OffloadChatModel.builder().engine(engine).temperature(temperature()).topP(topP())
                    .maxTokens(maxTokens()).listeners(List.of(listener)).build();
        }

        @Override
        protected String modelName() {
            return engine.modelName();
        }

        @Override
        protected ChatModel createFailingModel(ChatModelListener listener) {
            return OffloadChatModel.builder().engine(engine).defaultRequestParameters(BROKEN_SCHEMA)
                    .listeners(List.of(listener)).build();
        }

        @Override
        protected Class<? extends Exception> expectedExceptionClass() {
            return InvalidRequestException.class;
        }

        @Override
        protected boolean supportsTools() {
            return false;
        }
    }

    @Nested
    class Streaming extends AbstractStreamingChatModelListenerIT {
        @Override
        protected StreamingChatModel createModel(ChatModelListener listener) {
            return OffloadStreamingChatModel.builder().engine(engine).temperature(temperature()).topP(topP())
                    .maxTokens(maxTokens()).listeners(List.of(listener)).build();
        }

        @Override
        protected String modelName() {
            return engine.modelName();
        }

        @Override
        protected StreamingChatModel createFailingModel(ChatModelListener listener) {
            return OffloadStreamingChatModel.builder().engine(engine).defaultRequestParameters(BROKEN_SCHEMA)
                    .listeners(List.of(listener)).build();
        }

        @Override
        protected Class<? extends Exception> expectedExceptionClass() {
            return InvalidRequestException.class;
        }

        @Override
        protected boolean supportsTools() {
            return false;
        }
    }
}

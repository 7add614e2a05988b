package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.internal.JsonSchemaElementUtils;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.json.JsonAnyOfSchema;
import dev.langchain4j.model.chat.request.json.JsonArraySchema;
import dev.langchain4j.model.chat.request.json.JsonEnumSchema;
import dev.langchain4j.model.chat.request.json.JsonIntegerSchema;
import dev.langchain4j.model.chat.request.json.JsonNullSchema;
import dev.langchain4j.model.chat.request.json.JsonNumberSchema;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import dev.langchain4j.model.chat.request.json.JsonReferenceSchema;
import dev.langchain4j.model.chat.request.json.JsonSchema;
import dev.langchain4j.model.chat.request.json.JsonSchemaElement;
import dev.langchain4j.model.chat.request.json.JsonStringSchema;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import io.offload4j.engine.EngineOptions;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Constrained decoding end to end: models that know nothing of JSON (stories260K, trained on children's stories,
 * and a model with random weights), sampled at temperature 1 with many seeds, must answer every request with
 * text that parses and that a real JSON Schema validator (networknt) accepts, whatever the token budget.
 */
class StructuredOutputTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final SchemaRegistry VALIDATORS = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);

    @TempDir
    static Path dir;
    private static OffloadEngine stories;
    private static OffloadEngine random;

    @BeforeAll
    static void load() {
        stories = Stories.engine();
        Path tiny = dir.resolve("random.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
        random = OffloadEngine.builder().modelPath(tiny)
                .options(EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withContextLength(512)).build();
    }

    @AfterAll
    static void close() {
        if (stories != null) {
            stories.close();
        }
        if (random != null) {
            random.close();
        }
    }

    static Map<String, JsonSchemaElement> schemas() {
        Map<String, JsonSchemaElement> s = new LinkedHashMap<>();
        s.put("person", JsonObjectSchema.builder()
                .addStringProperty("name").addIntegerProperty("age").addStringProperty("email")
                .addBooleanProperty("married").required("name", "age").additionalProperties(false).build());
        s.put("enum", JsonObjectSchema.builder()
                .addProperty("mood", JsonEnumSchema.builder().enumValues("HAPPY", "SAD", "with \"quotes\"").build())
                .required("mood").build());
        s.put("numbers", JsonObjectSchema.builder()
                .addProperty("values", JsonArraySchema.builder().items(new JsonNumberSchema()).build())
                .required("values").build());
        JsonObjectSchema author = JsonObjectSchema.builder().addStringProperty("name").addIntegerProperty("born")
                .required("name", "born").build();
        s.put("nested", JsonObjectSchema.builder()
                .addStringProperty("title")
                .addProperty("authors", JsonArraySchema.builder().items(author).build())
                .addProperty("meta", JsonObjectSchema.builder().addBooleanProperty("draft")
                        .addProperty("score", JsonAnyOfSchema.builder().anyOf(new JsonNumberSchema(), new JsonNullSchema())
                                .build())
                        .required("draft", "score").build())
                .required("title", "authors", "meta").build());
        JsonObjectSchema node = JsonObjectSchema.builder().addIntegerProperty("value")
                .addProperty("children", JsonArraySchema.builder()
                        .items(JsonReferenceSchema.builder().reference("Node").build()).build())
                .required("value", "children").build();
        s.put("recursive", JsonObjectSchema.builder()
                .addProperty("tree", JsonReferenceSchema.builder().reference("Node").build())
                .required("tree").definitions(Map.of("Node", node)).build());
        s.put("anyOf", JsonObjectSchema.builder()
                .addProperty("x", JsonAnyOfSchema.builder().anyOf(new JsonStringSchema(), new JsonIntegerSchema(),
                        new JsonNullSchema()).build())
                .addProperty("map", JsonObjectSchema.builder().build())
                .required("x").build());
        s.put("rootArray", JsonArraySchema.builder().items(new JsonStringSchema()).build());
        return s;
    }

    @Test
    void everyReplyOfStoriesParsesAndMatchesItsSchema() throws Exception {
        checkModel(stories, 8);
    }

    @Test
    void everyReplyOfARandomWeightModelParsesAndMatchesItsSchema() throws Exception {
        checkModel(random, 8);
    }

    private static void checkModel(OffloadEngine engine, int seeds) throws Exception {
        int lengthEnds = 0;
        int runs = 0;
        for (Map.Entry<String, JsonSchemaElement> e : schemas().entrySet()) {
            JsonSchema schema = JsonSchema.builder().name(e.getKey()).rootElement(e.getValue()).build();
            Schema validator = validator(e.getValue());
            for (int seed = 0; seed < seeds; seed++) {
                // at least the shortest answer's bytes (a token writes one at least), at random above
                int maxTokens = JsonSchemaGrammar.of(schema).minLength()
                        + new SplittableRandom(seed * 31L + e.getKey().hashCode()).nextInt(100);
                ChatResponse r = chat(engine, schema, seed, maxTokens);
                String text = r.aiMessage().text();
                String where = e.getKey() + " seed " + seed + " maxTokens " + maxTokens + ": " + text;
                JsonNode parsed = parse(text, where);
                assertThat(parsed).as(where).isNotNull();
                List<Error> errors = validator.validate(parsed);
                assertThat(errors).as(where).isEmpty();
                assertThat(r.tokenUsage().outputTokenCount()).as(where).isLessThanOrEqualTo(maxTokens);
                if (r.finishReason() == FinishReason.LENGTH) {
                    lengthEnds++;
                }
                runs++;
            }
        }
        System.out.printf("structured output on %s: %d replies valid, %d of them closed as maxTokens ran out%n",
                engine.modelName(), runs, lengthEnds);
    }

    @Test
    void runningOutOfTokensStillClosesTheJson() throws Exception {
        JsonSchemaElement nested = schemas().get("nested");
        JsonSchema schema = JsonSchema.builder().name("nested").rootElement(nested).build();
        Schema validator = validator(nested);
        int closedByBudget = 0;
        int shortest = JsonSchemaGrammar.of(schema).minLength();
        assertThat(shortest).isEqualTo("{\"title\":\"\",\"authors\":[],\"meta\":{\"draft\":true,\"score\":0}}".length());
        for (int maxTokens = shortest; maxTokens <= shortest + 15; maxTokens++) {
            ChatResponse r = chat(random, schema, maxTokens, maxTokens);
            JsonNode parsed = parse(r.aiMessage().text(), r.finishReason() + " " + maxTokens);
            assertThat(validator.validate(parsed)).as(r.aiMessage().text()).isEmpty();
            if (r.finishReason() == FinishReason.LENGTH) {
                closedByBudget++;
            }
        }
        assertThat(closedByBudget).as("replies whose budget ran out (a random model rambles in strings)").isPositive();
    }

    @Test
    void concurrentStreamsAreConstrainedInTheBatchedDecode() throws Exception {
        // several requests at once decode together (one batched forward step), each with its own grammar
        List<CompletableFuture<ChatResponse>> done = new ArrayList<>();
        List<StringBuilder> streamed = new ArrayList<>();
        List<String> names = new ArrayList<>(schemas().keySet());
        for (int i = 0; i < 6; i++) {
            String name = names.get(i % names.size());
            JsonSchema schema = JsonSchema.builder().name(name).rootElement(schemas().get(name)).build();
            OffloadStreamingChatModel model = OffloadStreamingChatModel.builder().engine(random).seed(100 + i)
                    .temperature(1.0).maxTokens(JsonSchemaGrammar.of(schema).minLength() + 60).build();
            CompletableFuture<ChatResponse> future = new CompletableFuture<>();
            StringBuilder pieces = new StringBuilder();
            model.chat(ChatRequest.builder().messages(UserMessage.from("JSON please"))
                    .responseFormat(ResponseFormat.builder().type(ResponseFormatType.JSON).jsonSchema(schema).build())
                    .build(), new dev.langchain4j.model.chat.response.StreamingChatResponseHandler() {
                        @Override
                        public void onPartialResponse(String text) {
                            pieces.append(text);
                        }

                        @Override
                        public void onCompleteResponse(ChatResponse response) {
                            future.complete(response);
                        }

                        @Override
                        public void onError(Throwable error) {
                            future.completeExceptionally(error);
                        }
                    });
            done.add(future);
            streamed.add(pieces);
        }
        for (int i = 0; i < done.size(); i++) {
            ChatResponse r = done.get(i).get(60, java.util.concurrent.TimeUnit.SECONDS);
            String name = names.get(i % names.size());
            String text = r.aiMessage().text();
            assertThat(streamed.get(i).toString()).isEqualTo(text);
            assertThat(validator(schemas().get(name)).validate(parse(text, name))).as(text).isEmpty();
        }
    }

    @Test
    void jsonModeWithoutSchemaGivesJson() throws Exception {
        for (int seed = 0; seed < 10; seed++) {
            ChatRequest request = ChatRequest.builder().messages(UserMessage.from("Tell a story as JSON."))
                    .responseFormat(ResponseFormat.JSON).temperature(1.0).maxOutputTokens(60).build();
            OffloadChatModel model = OffloadChatModel.builder().engine(stories).seed(seed).build();
            String text = model.chat(request).aiMessage().text();
            assertThat(parse(text, "seed " + seed)).as(text).isNotNull();
        }
    }

    record Person(String name, int age, List<String> hobbies) {}

    enum Mood { HAPPY, SAD, ANGRY }

    record Book(String title, List<Person> authors, Mood mood, Person editor) {}

    interface Extractor {
        Person person(String text);

        Mood mood(String text);

        List<String> names(String text);

        Book book(String text);

        boolean isTrue(String text);

        Integer count(String text);
    }

    @Test
    void aiServicesReturnRecordsEnumsListsAndNestedRecords() {
        List<Object> answers = new ArrayList<>();
        List<ResponseFormat> formats = new java.util.concurrent.CopyOnWriteArrayList<>();
        ChatModelListener recorder = new ChatModelListener() {
            @Override
            public void onRequest(ChatModelRequestContext context) {
                formats.add(context.chatRequest().responseFormat());
            }
        };
        for (OffloadEngine engine : List.of(stories, random)) {
            for (int seed = 0; seed < 6; seed++) {
                OffloadChatModel model = OffloadChatModel.builder().engine(engine).seed(seed).temperature(1.0)
                        .maxTokens(120).listeners(List.of(recorder)).build();
                Extractor extractor = AiServices.create(Extractor.class, model);
                Person p = extractor.person("Lily is five and likes the park.");
                assertThat(p).isNotNull(); // LangChain4j's schema leaves record fields optional: they may be null
                Book b = extractor.book("A book about a cat.");
                assertThat(b).isNotNull();
                if (b.authors() != null) {
                    assertThat(b.authors()).doesNotContainNull();
                }
                answers.add(p);
                answers.add(b);
                answers.add(extractor.mood("Lily is happy."));
                answers.add(extractor.names("Lily and Tom played."));
                answers.add(extractor.isTrue("The sky is blue."));
                answers.add(extractor.count("Three cats."));
            }
        }
        assertThat(answers).doesNotContainNull();
        // the AI Service asked for its schema (the capability is used), for the records at least
        assertThat(formats).filteredOn(f -> f != null && f.jsonSchema() != null).hasSizeGreaterThanOrEqualTo(24);
    }

    private static ChatResponse chat(OffloadEngine engine, JsonSchema schema, int seed, int maxTokens) {
        OffloadChatModel model = OffloadChatModel.builder().engine(engine).seed(seed).temperature(1.0).topK(0)
                .topP(1.0).minP(0.0).maxTokens(maxTokens).build();
        ChatRequest request = ChatRequest.builder()
                .messages(UserMessage.from("Answer in JSON."))
                .responseFormat(ResponseFormat.builder().type(ResponseFormatType.JSON).jsonSchema(schema).build())
                .build();
        return model.chat(request);
    }

    /** The text as JSON; an assertion error naming the case and showing the text when it does not parse. */
    static JsonNode parse(String text, String where) {
        try {
            return JSON.readTree(text);
        } catch (Exception e) {
            throw new AssertionError(where + ": not JSON (" + e.getMessage().lines().findFirst().orElse("") + "): "
                    + text, e);
        }
    }

    static Schema validator(JsonSchemaElement root) throws Exception {
        Map<String, Object> map = new LinkedHashMap<>(JsonSchemaElementUtils.toMap(root));
        if (root instanceof JsonObjectSchema o && o.definitions() != null && !map.containsKey("$defs")) {
            map.put("$defs", JsonSchemaElementUtils.toMap(o.definitions()));
        }
        return VALIDATORS.getSchema(JSON.writeValueAsString(map));
    }
}

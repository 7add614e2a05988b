package io.offload4j.samples.ragweb;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.rag.content.Content;
import dev.langchain4j.rag.content.retriever.ContentRetriever;
import dev.langchain4j.rag.query.Query;
import io.offload4j.langchain4j.OffloadEngine;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.springframework.beans.factory.annotation.Autowired;
import tools.jackson.databind.JsonNode;
import tools.jackson.databind.ObjectMapper;

/** The REST and SSE endpoints, retrieval, memory and statistics, over HTTP on a real port. */
@Timeout(120)
class RagWebApplicationTest extends StoriesModelTest {

    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final ObjectMapper json = new ObjectMapper();

    @Autowired
    ContentRetriever retriever;
    @Autowired
    ConversationMemories memories;
    @Autowired
    OffloadEngine engine;

    @Test
    void chatAnswersWithUsageTimingsAndTheRetrievedPassage() throws Exception {
        HttpResponse<String> r = postJson("/api/chat",
                "{\"message\": \"Which quantization formats, such as Q4_K or Q8_0, can it run?\"}");

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode a = json.readTree(r.body());
        assertThat(a.get("conversationId").asString()).isNotBlank();
        assertThat(a.get("answer").asString()).isNotEmpty();
        JsonNode usage = a.get("usage");
        assertThat(usage.get("inputTokens").asInt()).isPositive();
        assertThat(usage.get("outputTokens").asInt()).isBetween(1, 24);
        assertThat(usage.get("totalTokens").asInt())
                .isEqualTo(usage.get("inputTokens").asInt() + usage.get("outputTokens").asInt());
        assertThat(a.get("timings").get("prefillMillis").asDouble()).isPositive();
        JsonNode sources = a.get("sources");
        assertThat(sources).hasSize(1);
        assertThat(sources.get(0).get("document").asString()).isEqualTo("supported-models.md");
        assertThat(sources.get(0).get("text").asString()).contains("Q8_0");
    }

    @Test
    void streamSendsSourcesThenTokensThenTheWholeAnswer() throws Exception {
        String question = URLEncoder.encode("Which application property sets the sampling temperature of the chat model?",
                StandardCharsets.UTF_8);
        List<Event> events = stream(HttpRequest.newBuilder(URI.create(url("/api/chat/stream?message=" + question)))
                .header("Accept", "text/event-stream").GET().build());

        assertThat(events).first().extracting(Event::name).isEqualTo("sources");
        assertThat(events).last().extracting(Event::name).isEqualTo("done");
        List<Event> tokens = events.stream().filter(e -> e.name().equals("token")).toList();
        assertThat(tokens).hasSizeGreaterThanOrEqualTo(5);
        assertThat(events.subList(1, events.size() - 1)).allMatch(e -> e.name().equals("token"));

        StringBuilder streamed = new StringBuilder();
        for (Event t : tokens) {
            streamed.append(json.readTree(t.data()).get("text").asString());
        }
        JsonNode done = json.readTree(events.getLast().data());
        assertThat(streamed.toString()).isEqualTo(done.get("answer").asString());
        assertThat(done.get("usage").get("outputTokens").asInt()).isEqualTo(24); // stories260K never ends a turn
        assertThat(done.get("finishReason").asString()).isEqualTo("LENGTH");
        assertThat(done.get("sources").get(0).get("document").asString()).isEqualTo("configuration.md");
    }

    @Test
    void streamAcceptsAJsonPost() throws Exception {
        List<Event> events = stream(HttpRequest.newBuilder(URI.create(url("/api/chat/stream")))
                .header("Content-Type", "application/json").header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofString("{\"conversationId\": \"post-1\", \"message\": \"hello\"}"))
                .build());

        assertThat(events).last().extracting(Event::name).isEqualTo("done");
        assertThat(json.readTree(events.getLast().data()).get("conversationId").asString()).isEqualTo("post-1");
        assertThat(events.stream().filter(e -> e.name().equals("token"))).hasSizeGreaterThanOrEqualTo(5);
    }

    @Test
    void retrievalFindsThePassageThatAnswers() {
        assertRetrieved("Which tokenizers and chat templates does it understand?", "supported-models.md",
                "tokenizer.chat_template");
        assertRetrieved("How are transformer blocks streamed over PCIe when the model is larger than the GPU?",
                "tiers-and-offloading.md", "staging slots");
        assertRetrieved("Which application property sets the sampling temperature of the chat model?",
                "configuration.md", "`temperature`");
        assertRetrieved("Which requests are refused with UnsupportedFeatureException?", "langchain4j.md",
                "images or audio");
        assertRetrieved("Which Java version and which GPU does it require?", "overview.md", "Java 25");
        assertRetrieved("How does the prefix cache speed up the second turn of a conversation?", "overview.md",
                "33 times shorter");
    }

    @Test
    void memoryIsKeptPerConversationAndTheNextTurnContinuesTheKvCache() throws Exception {
        JsonNode first = json.readTree(postJson("/api/chat",
                "{\"conversationId\": \"alpha\", \"message\": \"What is offload4j?\"}").body());
        JsonNode second = json.readTree(postJson("/api/chat",
                "{\"conversationId\": \"alpha\", \"message\": \"Which devices can it use?\"}").body());
        postJson("/api/chat", "{\"conversationId\": \"beta\", \"message\": \"Which devices can it use?\"}");

        assertThat(userMessages("alpha")).hasSize(2);
        assertThat(userMessages("alpha").getFirst()).contains("What is offload4j?");
        assertThat(userMessages("beta")).hasSize(1);
        // The second turn's prompt holds the first turn, so it is longer and most of it comes from the prefix cache.
        assertThat(second.get("usage").get("inputTokens").asInt())
                .isGreaterThan(first.get("usage").get("inputTokens").asInt());
        assertThat(second.get("timings").get("cachedPromptTokens").asInt())
                .isGreaterThanOrEqualTo(first.get("usage").get("inputTokens").asInt());
    }

    @Test
    void badRequestsGetAClearError() throws Exception {
        HttpResponse<String> blank = postJson("/api/chat", "{\"message\": \"  \"}");
        assertThat(blank.statusCode()).isEqualTo(400);
        assertThat(json.readTree(blank.body()).get("detail").asString()).contains("'message' is required");

        HttpResponse<String> badId = postJson("/api/chat", "{\"conversationId\": \"a b\", \"message\": \"hi\"}");
        assertThat(badId.statusCode()).isEqualTo(400);
        assertThat(json.readTree(badId.body()).get("detail").asString()).contains("'conversationId'");

        assertThat(postJson("/api/chat", "{not json").statusCode()).isEqualTo(400);

        List<Event> events = stream(HttpRequest.newBuilder(URI.create(url("/api/chat/stream?message=")))
                .header("Accept", "text/event-stream").GET().build());
        assertThat(events).singleElement().satisfies(e -> {
            assertThat(e.name()).isEqualTo("failure");
            assertThat(json.readTree(e.data()).get("message").asString()).contains("'message' is required");
        });
    }

    @Test
    void statsReportTheEngineAfterAnAnswer() throws Exception {
        postJson("/api/chat", "{\"message\": \"How fast is decoding?\"}");
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(url("/api/stats"))).GET().build(),
                HttpResponse.BodyHandlers.ofString());

        assertThat(r.statusCode()).isEqualTo(200);
        JsonNode s = json.readTree(r.body());
        assertThat(s.get("loaded").asBoolean()).isTrue();
        assertThat(s.get("model").asString()).isEqualTo(engine.modelName());
        assertThat(s.get("contextLength").asInt()).isEqualTo(engine.inferenceEngine().contextLength());
        JsonNode e = s.get("engine");
        assertThat(e.get("completed").asLong()).isPositive();
        assertThat(e.get("generatedTokens").asLong()).isPositive();
        assertThat(e.get("decodeTokensPerSecond").asDouble()).isPositive();
        assertThat(e.get("prefillTokensPerSecond").asDouble()).isPositive();
        assertThat(e.has("prefixHits")).isTrue();
        JsonNode o = s.get("offload");
        assertThat(o.get("residentBlocks").asInt()).isEqualTo(engine.inferenceEngine().offloadStats().residentBlocks());
        assertThat(o.get("hitRate").asDouble()).isEqualTo(1.0);
        JsonNode k = s.get("knowledgeBase");
        assertThat(k.get("documents").asInt()).isEqualTo(5);
        assertThat(k.get("passages").asInt()).isGreaterThan(5);
        assertThat(k.get("memoryTokenBudget").asInt()).isEqualTo(1024 - 24 - 16);
    }

    private void assertRetrieved(String question, String document, String passageText) {
        List<Content> found = retriever.retrieve(Query.from(question));
        assertThat(found).as("passages for '%s'", question).hasSize(1);
        TextSegment best = found.getFirst().textSegment();
        assertThat(best.metadata().getString(BundledDocuments.FILE_NAME)).as(question).isEqualTo(document);
        assertThat(best.text()).as(question).contains(passageText);
    }

    private List<String> userMessages(String conversationId) {
        List<String> texts = new ArrayList<>();
        for (ChatMessage m : memories.messages(conversationId)) {
            if (m instanceof UserMessage u) {
                texts.add(u.singleText());
            }
        }
        return texts;
    }

    private HttpResponse<String> postJson(String path, String body) throws IOException, InterruptedException {
        return HTTP.send(HttpRequest.newBuilder(URI.create(url(path))).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    record Event(String name, String data) {}

    /** Reads a server-sent event stream to its end: an event is its {@code event:} and {@code data:} lines. */
    private static List<Event> stream(HttpRequest request) throws IOException, InterruptedException {
        HttpResponse<Stream<String>> r = HTTP.send(request, HttpResponse.BodyHandlers.ofLines());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.headers().firstValue("Content-Type")).hasValueSatisfying(
                t -> assertThat(t).startsWith("text/event-stream"));
        List<Event> events = new ArrayList<>();
        String name = "message";
        StringBuilder data = new StringBuilder();
        for (String line : (Iterable<String>) r.body()::iterator) {
            if (line.isEmpty()) {
                if (!data.isEmpty()) {
                    events.add(new Event(name, data.toString()));
                }
                name = "message";
                data.setLength(0);
            } else if (line.startsWith("event:")) {
                name = line.substring(6).strip();
            } else if (line.startsWith("data:")) {
                if (!data.isEmpty()) {
                    data.append('\n');
                }
                data.append(line.substring(5).startsWith(" ") ? line.substring(6) : line.substring(5));
            }
        }
        if (!data.isEmpty()) {
            events.add(new Event(name, data.toString()));
        }
        return events;
    }
}

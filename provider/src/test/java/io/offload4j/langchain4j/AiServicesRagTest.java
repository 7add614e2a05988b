package io.offload4j.langchain4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.memory.chat.MessageWindowChatMemory;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import dev.langchain4j.model.chat.listener.ChatModelResponseContext;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.rag.content.retriever.ContentRetriever;
import dev.langchain4j.rag.content.retriever.EmbeddingStoreContentRetriever;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.Result;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * AI Services with retrieval (a content retriever over an in-memory embedding store) and chat memory, end to end on
 * stories260K. The model is a story generator, not an assistant, so what is checked is the plumbing: the retrieved
 * text reaches the prompt, the memory carries the first turn into the second, replies come back, and the second
 * turn continues the first turn's KV cache.
 */
@Timeout(60)
class AiServicesRagTest {

    /** Bag of words hashed into 64 dimensions: texts sharing words are close. */
    static final class WordHashEmbeddingModel implements EmbeddingModel {
        @Override
        public Response<List<Embedding>> embedAll(List<TextSegment> segments) {
            List<Embedding> out = new ArrayList<>();
            for (TextSegment s : segments) {
                float[] v = new float[64];
                for (String w : s.text().toLowerCase(Locale.ROOT).split("[^a-z]+")) {
                    if (w.length() > 2) {
                        v[Math.floorMod(w.hashCode(), 64)] += 1;
                    }
                }
                out.add(normalized(v));
            }
            return Response.from(out);
        }

        private static Embedding normalized(float[] v) {
            Embedding e = Embedding.from(v);
            e.normalize();
            return e;
        }

        @Override
        public int dimension() {
            return 64;
        }
    }

    interface Storyteller {
        Result<String> tell(String request);
    }

    @Test
    void retrievalAndMemoryFlowThroughTheModel() {
        WordHashEmbeddingModel embeddings = new WordHashEmbeddingModel();
        InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
        List<TextSegment> facts = List.of(
                TextSegment.from("Lily has a big red ball and a little dog."),
                TextSegment.from("Tom likes to eat apples in the garden."),
                TextSegment.from("The old cat sleeps on the warm mat."));
        store.addAll(embeddings.embedAll(facts).content(), facts);
        ContentRetriever retriever = EmbeddingStoreContentRetriever.builder()
                .embeddingStore(store).embeddingModel(embeddings).maxResults(1).build();

        List<ChatRequest> requests = new CopyOnWriteArrayList<>();
        List<ChatResponse> responses = new CopyOnWriteArrayList<>();
        ChatModelListener listener = new ChatModelListener() {
            @Override
            public void onRequest(ChatModelRequestContext context) {
                requests.add(context.chatRequest());
            }

            @Override
            public void onResponse(ChatModelResponseContext context) {
                responses.add(context.chatResponse());
            }
        };
        try (OffloadEngine engine = Stories.engine()) {
            Storyteller storyteller = AiServices.builder(Storyteller.class)
                    .chatModel(OffloadChatModel.builder().engine(engine).temperature(0.0).maxTokens(20)
                            .listeners(List.of(listener)).build())
                    .contentRetriever(retriever)
                    .chatMemory(MessageWindowChatMemory.withMaxMessages(10))
                    .build();

            Result<String> first = storyteller.tell("Tell me about Lily and her ball");
            assertThat(first.content()).isNotBlank();
            assertThat(first.sources()).singleElement()
                    .satisfies(c -> assertThat(c.textSegment().text()).contains("big red ball"));
            assertThat(first.tokenUsage().outputTokenCount()).isEqualTo(20);
            String prompt1 = ((UserMessage) requests.get(0).messages().get(0)).singleText();
            assertThat(prompt1).contains("Tell me about Lily and her ball").contains("Lily has a big red ball");

            Result<String> second = storyteller.tell("What does Tom eat in the garden?");
            assertThat(second.content()).isNotBlank();
            List<ChatMessage> turn2 = requests.get(1).messages();
            assertThat(turn2).hasSize(3); // memory: first question (with its retrieved text), first answer, second
            assertThat(((UserMessage) turn2.get(0)).singleText()).isEqualTo(prompt1);
            assertThat(((AiMessage) turn2.get(1)).text()).isEqualTo(first.content());
            assertThat(((UserMessage) turn2.get(2)).singleText()).contains("Tom likes to eat apples");

            OffloadChatResponseMetadata m2 = (OffloadChatResponseMetadata) responses.get(1).metadata();
            assertThat(m2.cachedPromptTokens())
                    .as("turn 2 continues turn 1's KV cache")
                    .isGreaterThanOrEqualTo(responses.get(0).tokenUsage().inputTokenCount() - 1);
        }
    }
}

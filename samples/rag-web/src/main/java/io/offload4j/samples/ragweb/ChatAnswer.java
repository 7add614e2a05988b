package io.offload4j.samples.ragweb;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.TokenUsage;
import dev.langchain4j.rag.content.Content;
import dev.langchain4j.rag.content.ContentMetadata;
import io.offload4j.langchain4j.OffloadChatResponseMetadata;
import java.util.List;

/**
 * The answer to a {@link ChatRequest}, as the REST API returns it and as the stream's {@code done} event carries it.
 *
 * @param conversationId the conversation to continue with the next question
 * @param answer         the model's text
 * @param finishReason   why the model stopped: STOP (end of its turn), LENGTH (max tokens or a full context), …
 * @param usage          prompt and generated tokens
 * @param timings        what the engine measured for this answer; null when the model is not offload4j's
 * @param sources        the passages that were put into the prompt, best match first
 */
public record ChatAnswer(String conversationId, String answer, String finishReason, Usage usage, Timings timings,
                         List<Source> sources) {

    static ChatAnswer of(String conversationId, ChatResponse response, List<Content> sources) {
        return new ChatAnswer(conversationId, response.aiMessage().text(),
                response.finishReason() == null ? null : response.finishReason().name(),
                Usage.of(response.tokenUsage()), Timings.of(response), Source.all(sources));
    }

    /** Token counts; zero where the model reported none. */
    public record Usage(int inputTokens, int outputTokens, int totalTokens) {
        static Usage of(TokenUsage u) {
            if (u == null) {
                return new Usage(0, 0, 0);
            }
            int in = u.inputTokenCount() == null ? 0 : u.inputTokenCount();
            int out = u.outputTokenCount() == null ? 0 : u.outputTokenCount();
            return new Usage(in, out, in + out);
        }
    }

    /**
     * @param cachedPromptTokens    prompt tokens continued from the engine's prefix cache instead of computed
     * @param queueMillis           time waiting for the engine
     * @param prefillMillis         time to compute the prompt and the first token
     * @param decodeMillis          time to generate the tokens after the first
     * @param decodeTokensPerSecond tokens after the first per second of decode time (0 for fewer than two tokens)
     */
    public record Timings(int cachedPromptTokens, double queueMillis, double prefillMillis, double decodeMillis,
                          double decodeTokensPerSecond) {
        static Timings of(ChatResponse response) {
            if (!(response.metadata() instanceof OffloadChatResponseMetadata m)) {
                return null;
            }
            Integer out = response.tokenUsage() == null ? null : response.tokenUsage().outputTokenCount();
            double tps = out != null && out > 1 && m.decodeNanos() > 0 ? (out - 1) * 1e9 / m.decodeNanos() : 0;
            return new Timings(m.cachedPromptTokens(), m.queueNanos() / 1e6, m.prefillNanos() / 1e6,
                    m.decodeNanos() / 1e6, tps);
        }
    }

    /**
     * A retrieved passage.
     *
     * @param document the file it comes from
     * @param title    that file's title
     * @param score    cosine similarity to the question (0 to 1)
     * @param text     the passage as put into the prompt
     */
    public record Source(String document, String title, double score, String text) {
        static List<Source> all(List<Content> contents) {
            return contents == null ? List.of() : contents.stream().map(Source::of).toList();
        }

        static Source of(Content c) {
            TextSegment s = c.textSegment();
            Object score = c.metadata().get(ContentMetadata.SCORE);
            return new Source(s.metadata().getString(BundledDocuments.FILE_NAME),
                    s.metadata().getString(BundledDocuments.TITLE),
                    score instanceof Number n ? n.doubleValue() : 0, s.text());
        }
    }
}

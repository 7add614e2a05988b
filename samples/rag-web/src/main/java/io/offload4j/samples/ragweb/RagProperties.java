package io.offload4j.samples.ragweb;

import java.time.Duration;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.bind.DefaultValue;

/**
 * The sample's own settings ({@code rag.*}); the model's are the starter's {@code langchain4j.offload.*}.
 * Checked when bound, so a wrong value stops start-up with a message naming the property.
 *
 * @param documents       where the Markdown documents are (a Spring resource pattern)
 * @param segmentSize     most characters per embedded passage
 * @param segmentOverlap  characters a passage repeats from the one before, so a sentence cut at a boundary is
 *                        still found whole
 * @param maxResults      passages put into the prompt per question; a small model's context fills quickly
 * @param minScore        cosine similarity below which a passage is not used (0 to 1)
 * @param maxConversations conversations remembered at once; the least recently used is forgotten first
 * @param systemMessage   the instruction that opens every conversation
 * @param streamTimeout   how long a streamed answer may take before the server ends the stream
 * @param rerankCandidates passages retrieved per question before re-ranking, when a re-ranker
 *                        ({@code langchain4j.offload.scoring-model.model}) is set; the best {@code maxResults} of
 *                        them go into the prompt
 */
@ConfigurationProperties("rag")
public record RagProperties(
        @DefaultValue("classpath:docs/*.md") String documents,
        @DefaultValue("600") int segmentSize,
        @DefaultValue("80") int segmentOverlap,
        @DefaultValue("3") int maxResults,
        @DefaultValue("0.3") double minScore,
        @DefaultValue("1000") int maxConversations,
        @DefaultValue(DEFAULT_SYSTEM_MESSAGE) String systemMessage,
        @DefaultValue("5m") Duration streamTimeout,
        @DefaultValue("10") int rerankCandidates) {

    static final String DEFAULT_SYSTEM_MESSAGE = "You answer questions about offload4j, a Java library for running "
            + "large language models in-process. Answer briefly, using only the information given with the "
            + "question. If it does not contain the answer, say that the documentation does not cover it.";

    public RagProperties {
        require(documents != null && !documents.isBlank(), "rag.documents must name a resource pattern such as "
                + "classpath:docs/*.md, was '" + documents + "'");
        require(segmentSize >= 50, "rag.segment-size must be >= 50 characters, was " + segmentSize);
        require(segmentOverlap >= 0 && segmentOverlap < segmentSize, "rag.segment-overlap must be >= 0 and less "
                + "than rag.segment-size (" + segmentSize + "), was " + segmentOverlap);
        require(maxResults >= 1, "rag.max-results must be >= 1, was " + maxResults);
        require(minScore >= 0 && minScore <= 1, "rag.min-score must be between 0 and 1, was " + minScore);
        require(maxConversations >= 1, "rag.max-conversations must be >= 1, was " + maxConversations);
        require(systemMessage != null && !systemMessage.isBlank(), "rag.system-message must not be empty");
        require(rerankCandidates >= maxResults, "rag.rerank-candidates must be >= rag.max-results (" + maxResults
                + "), was " + rerankCandidates);
        require(streamTimeout != null && streamTimeout.isPositive(), "rag.stream-timeout must be positive, was "
                + streamTimeout);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}

package io.offload4j.langchain4j;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.langchain4j.model.scoring.ScoringModel;
import io.offload4j.embedding.TextScorer;
import io.offload4j.embedding.TextScorers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * A LangChain4j {@link ScoringModel} (re-ranker) computed in-process by offload4j: a BERT-family cross-encoder
 * (bge-reranker, ms-marco MiniLM; CPU) or Qwen3-Reranker (a causal LM; CPU or GPU).
 *
 * <p><b>Scores are in 0..1 by default</b>, as the hosted re-rankers LangChain4j users know return them (Cohere, Jina,
 * Voyage), so that a {@code ReRankingContentAggregator} {@code minScore} such as 0.5 means the same thing: a
 * cross-encoder's logit goes through a sigmoid (bge-reranker's own {@code normalize=True}); Qwen3-Reranker's
 * P(yes) already is a probability. {@code sigmoid(false)} gives a cross-encoder's raw logit instead.
 */
public class OffloadScoringModel implements ScoringModel, AutoCloseable {

    private final TextScorer scorer;

    protected OffloadScoringModel(Builder b) {
        this.scorer = TextScorers.load(b.resolvePath(), b.options, b.sigmoid, b.instruction);
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public Response<List<Double>> scoreAll(List<TextSegment> segments, String query) {
        Objects.requireNonNull(query, "query");
        List<String> documents = new ArrayList<>(segments.size());
        for (TextSegment s : segments) {
            documents.add(s.text());
        }
        float[] scores = scorer.score(query, documents);
        List<Double> out = new ArrayList<>(scores.length);
        for (float f : scores) {
            out.add((double) f);
        }
        return Response.from(out, new TokenUsage(0, 0));
    }

    public String modelName() {
        return scorer.modelName();
    }

    @Override
    public void close() {
        scorer.close();
    }

    /** Settings of a scoring model (the model and runtime settings: {@link OffloadModelBuilder}). */
    public static class Builder extends OffloadModelBuilder<Builder> {
        private boolean sigmoid = true;
        private String instruction;

        protected Builder() {}

        /** Map a cross-encoder's logit into 0..1 (default true); false: the raw logit. */
        public Builder sigmoid(boolean sigmoid) {
            this.sigmoid = sigmoid;
            return this;
        }

        /** Qwen3-Reranker's task ({@code <Instruct>: ...}); default: its model card's web-search instruction. */
        public Builder instruction(String instruction) {
            this.instruction = instruction;
            return this;
        }

        Path resolvePath() {
            return resolvePath("the re-ranker's");
        }

        public OffloadScoringModel build() {
            return new OffloadScoringModel(this);
        }
    }
}

package io.offload4j.langchain4j;

import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.model.output.Response;
import dev.langchain4j.model.output.TokenUsage;
import dev.langchain4j.model.scoring.ScoringModel;
import io.offload4j.embedding.EmbeddingOptions;
import io.offload4j.embedding.TextScorer;
import io.offload4j.embedding.TextScorers;
import io.offload4j.hub.DownloadListener;
import io.offload4j.hub.ModelResolver;
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

    /** Settings of a scoring model. */
    public static class Builder {
        private Path modelPath;
        private String hubModel;
        private ModelResolver modelResolver;
        private EmbeddingOptions options = EmbeddingOptions.DEFAULTS;
        private boolean sigmoid = true;
        private String instruction;

        protected Builder() {}

        public Builder modelPath(Path modelPath) {
            this.modelPath = modelPath;
            this.hubModel = null;
            return this;
        }

        /** A local path, or a Hugging Face Hub model ({@code owner/repo:Q8_0}, {@code hf:owner/repo}). */
        public Builder model(String model) {
            if (model != null && ModelResolver.isHubSpec(model.trim())) {
                this.modelPath = null;
                this.hubModel = model.trim();
                return this;
            }
            return modelPath(model == null ? null : Path.of(model.trim()));
        }

        public Builder modelResolver(ModelResolver resolver) {
            this.modelResolver = resolver;
            return this;
        }

        public Builder device(String device) {
            options = options.withDevice(device);
            return this;
        }

        public Builder threads(int threads) {
            options = options.withThreads(threads);
            return this;
        }

        /**
         * Tokens of several (query, document) pairs run together in one pass of a cross-encoder; 0 (default) = 2048
         * (a decoder re-ranker: its prompt chunk, 512).
         */
        public Builder batchTokens(int tokens) {
            options = options.withBatchTokens(tokens);
            return this;
        }

        /** The longest (query, document) input in tokens; 0 = the model's limit (512 for decoder models). */
        public Builder maxTokens(int tokens) {
            options = options.withMaxTokens(tokens);
            return this;
        }

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

        public Builder gpuMemoryBudget(long bytes) {
            options = options.withOffload(options.offload().withGpuMemoryBudget(bytes));
            return this;
        }

        public Builder options(EmbeddingOptions options) {
            this.options = Objects.requireNonNull(options, "options");
            return this;
        }

        Path resolvePath() {
            if (hubModel != null) {
                ModelResolver resolver = modelResolver != null ? modelResolver : ModelResolver.fromEnvironment();
                return resolver.resolve(hubModel, DownloadListener.logging());
            }
            if (modelPath == null) {
                throw new IllegalArgumentException("modelPath is required: the re-ranker's GGUF file or Hugging Face"
                        + " directory (or model(...) with a path or a Hugging Face id)");
            }
            return modelPath;
        }

        public OffloadScoringModel build() {
            return new OffloadScoringModel(this);
        }
    }
}

package io.offload4j.langchain4j;

import io.offload4j.embedding.EmbeddingOptions;
import io.offload4j.hub.DownloadListener;
import io.offload4j.hub.ModelResolver;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The settings {@link OffloadEmbeddingModel.Builder} and {@link OffloadScoringModel.Builder} share: which model
 * (a local path or a Hugging Face Hub model) and the {@link EmbeddingOptions} of its runtime. Self-typed, so each
 * setter returns the concrete builder and calls chain into its own settings.
 *
 * @param <B> the concrete builder
 */
abstract class OffloadModelBuilder<B extends OffloadModelBuilder<B>> {

    private Path modelPath;
    private String hubModel;
    private ModelResolver modelResolver;
    EmbeddingOptions options = EmbeddingOptions.DEFAULTS;

    OffloadModelBuilder() {}

    @SuppressWarnings("unchecked")
    private B self() {
        return (B) this;
    }

    /** The GGUF file or Hugging Face directory; this or {@link #model(String)} is required. */
    public B modelPath(Path modelPath) {
        this.modelPath = modelPath;
        this.hubModel = null;
        return self();
    }

    /** A local path, or a Hugging Face Hub model ({@code owner/repo:Q8_0}, {@code hf:owner/repo}) downloaded once. */
    public B model(String model) {
        if (model != null && ModelResolver.isHubSpec(model.trim())) {
            this.modelPath = null;
            this.hubModel = model.trim();
            return self();
        }
        return modelPath(model == null ? null : Path.of(model.trim()));
    }

    /** Where Hub models are found and downloaded; default: the Hugging Face cache of the environment. */
    public B modelResolver(ModelResolver resolver) {
        this.modelResolver = resolver;
        return self();
    }

    /**
     * {@code auto} (default), {@code cpu}, {@code cuda}, {@code cuda:N}; BERT-family encoders and cross-encoders use
     * the CPU.
     */
    public B device(String device) {
        options = options.withDevice(device);
        return self();
    }

    /** CPU threads; 0 (default) = one per processor. */
    public B threads(int threads) {
        options = options.withThreads(threads);
        return self();
    }

    /**
     * Tokens of several inputs (texts, or (query, document) pairs) run together in one pass; 0 (default) = 2048 for
     * encoders, 512 for decoder models (a decoder re-ranker's prompt chunk).
     */
    public B batchTokens(int tokens) {
        options = options.withBatchTokens(tokens);
        return self();
    }

    /** The longest input in tokens (longer ones are cut); 0 = the model's limit (512 for decoder models). */
    public B maxTokens(int tokens) {
        options = options.withMaxTokens(tokens);
        return self();
    }

    /** GPU memory for a decoder model's weights in bytes (it streams or CPU-computes what does not fit). */
    public B gpuMemoryBudget(long bytes) {
        options = options.withOffload(options.offload().withGpuMemoryBudget(bytes));
        return self();
    }

    /** Every runtime option at once (replacing those set before). */
    public B options(EmbeddingOptions options) {
        this.options = Objects.requireNonNull(options, "options");
        return self();
    }

    /**
     * The model's local path, a Hub model downloaded first.
     *
     * @param what the model's role in the error when none was set ("the embedding model's")
     */
    Path resolvePath(String what) {
        if (hubModel != null) {
            ModelResolver resolver = modelResolver != null ? modelResolver : ModelResolver.fromEnvironment();
            return resolver.resolve(hubModel, DownloadListener.logging());
        }
        if (modelPath == null) {
            throw new IllegalArgumentException("modelPath is required: " + what + " GGUF file or Hugging Face"
                    + " directory (or model(...) with a path or a Hugging Face id)");
        }
        return modelPath;
    }
}

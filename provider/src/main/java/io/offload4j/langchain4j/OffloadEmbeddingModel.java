package io.offload4j.langchain4j;

import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.embedding.listener.EmbeddingModelListener;
import dev.langchain4j.model.embedding.request.EmbeddingInput;
import dev.langchain4j.model.embedding.request.EmbeddingInputType;
import dev.langchain4j.model.embedding.request.EmbeddingParameter;
import dev.langchain4j.model.embedding.request.EmbeddingRequest;
import dev.langchain4j.model.embedding.request.EmbeddingRequestParameters;
import dev.langchain4j.model.embedding.response.EmbeddingResponse;
import dev.langchain4j.model.output.TokenUsage;
import io.offload4j.embedding.Pooling;
import io.offload4j.embedding.TextEmbedder;
import io.offload4j.embedding.TextEmbedders;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A LangChain4j {@link EmbeddingModel} computed in-process by offload4j, from a GGUF file or a Hugging Face
 * directory: BERT-family encoders (all-MiniLM, bge, e5, gte; CPU or GPU) and decoder embedding models (Qwen3-Embedding,
 * gte-Qwen2; CPU or GPU, offloaded when larger than the GPU budget). {@link #embedAll} embeds many texts in passes
 * of several texts each.
 *
 * <p><b>Queries and documents.</b> Instruction-tuned models (Qwen3-Embedding, gte-Qwen2) embed a query as
 * {@code Instruct: {task}\nQuery:{query}} (gte-Qwen2: {@code Query: {query}}, as the model's query prompt or its
 * architecture says: {@link TextEmbedder#instructed}) and a document as it is. LangChain4j says which is which with the
 * {@link EmbeddingInputType} of a request: its content retriever asks for {@code QUERY}, its ingestor for
 * {@code DOCUMENT}. With a {@link Builder#queryInstruction query instruction} set, QUERY inputs get it; everything
 * else ({@code DOCUMENT}, no type, {@link #embed(String)}) is embedded as given. Models trained with task prefixes
 * instead (nomic-embed-text: {@code "search_query: "}, {@code "search_document: "}) get them from
 * {@link Builder#queryPrefix} and {@link Builder#documentPrefix}: QUERY inputs start with the one, DOCUMENT inputs
 * with the other; inputs without a type are embedded as given (put the prefix into such a text yourself).
 *
 * <pre>{@code
 * EmbeddingModel model = OffloadEmbeddingModel.builder()
 *         .model("Qwen/Qwen3-Embedding-0.6B-GGUF:Q8_0")
 *         .queryInstruction("Given a web search query, retrieve relevant passages that answer the query")
 *         .build();
 * }</pre>
 *
 * <pre>{@code
 * EmbeddingModel nomic = OffloadEmbeddingModel.builder()
 *         .model("nomic-ai/nomic-embed-text-v1.5-GGUF:Q8_0")
 *         .queryPrefix("search_query: ").documentPrefix("search_document: ")
 *         .build();
 * }</pre>
 */
public class OffloadEmbeddingModel implements EmbeddingModel, AutoCloseable {

    private static final Set<EmbeddingParameter<?>> SUPPORTED = Set.of(EmbeddingRequestParameters.INPUT_TYPE);

    private final TextEmbedder embedder;
    private final String queryInstruction;
    private final String queryPrefix;
    private final String documentPrefix;
    private final List<EmbeddingModelListener> listeners;

    protected OffloadEmbeddingModel(Builder b) {
        if (present(b.queryInstruction) && present(b.queryPrefix)) {
            throw new IllegalArgumentException("queryInstruction and queryPrefix are both set; a model takes one"
                    + " query form: Qwen3-Embedding's instruction, or a task prefix such as nomic-embed-text's"
                    + " \"search_query: \"");
        }
        this.queryInstruction = b.queryInstruction;
        this.queryPrefix = b.queryPrefix;
        this.documentPrefix = b.documentPrefix;
        this.listeners = List.copyOf(b.listeners);
        this.embedder = TextEmbedders.load(b.resolvePath(), b.options);
    }

    private static boolean present(String s) {
        return s != null && !s.isEmpty();
    }

    public static Builder builder() {
        return new Builder();
    }

    @Override
    public EmbeddingResponse doEmbed(EmbeddingRequest request) {
        EmbeddingInputType type = request.inputType() != null ? request.inputType()
                : request.parameters() == null ? null : request.parameters().inputType();
        boolean instructed = type == EmbeddingInputType.QUERY && queryInstruction != null
                && !queryInstruction.isBlank();
        String prefix = type == EmbeddingInputType.QUERY ? queryPrefix
                : type == EmbeddingInputType.DOCUMENT ? documentPrefix : null;
        List<String> texts = new ArrayList<>(request.inputs().size());
        for (EmbeddingInput input : request.inputs()) {
            String text = Objects.requireNonNull(input.text(), "an embedding input without text");
            texts.add(instructed ? embedder.instructed(queryInstruction, text) : present(prefix) ? prefix + text : text);
        }
        int[] counts = new int[texts.size()];
        List<float[]> vectors = embedder.embed(texts, counts);
        List<Embedding> embeddings = new ArrayList<>(vectors.size());
        int tokens = 0;
        for (int i = 0; i < vectors.size(); i++) {
            embeddings.add(Embedding.from(vectors.get(i)));
            tokens += counts[i];
        }
        return EmbeddingResponse.builder().embeddings(embeddings).modelName(embedder.modelName())
                .tokenUsage(new TokenUsage(tokens, 0)).build();
    }

    @Override
    public Set<EmbeddingParameter<?>> supportedParameters() {
        return SUPPORTED;
    }

    @Override
    public List<EmbeddingModelListener> listeners() {
        return listeners;
    }

    @Override
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    @Override
    public int dimension() {
        return embedder.dimension();
    }

    @Override
    public String modelName() {
        return embedder.modelName();
    }

    /** Releases the model's weights (the file mapping) and threads. */
    @Override
    public void close() {
        embedder.close();
    }

    /** Settings of an embedding model (the model and runtime settings: {@link OffloadModelBuilder}). */
    public static class Builder extends OffloadModelBuilder<Builder> {
        private String queryInstruction;
        private String queryPrefix;
        private String documentPrefix;
        private final List<EmbeddingModelListener> listeners = new ArrayList<>();

        protected Builder() {}

        /** {@code cls}, {@code mean} or {@code last}; default: what the model's files say. */
        public Builder pooling(String pooling) {
            options = options.withPooling(pooling == null || pooling.isBlank() ? null : Pooling.parse(pooling));
            return this;
        }

        /** Unit-length vectors; default: what the model's files say (true when they say nothing). */
        public Builder normalize(Boolean normalize) {
            options = options.withNormalize(normalize);
            return this;
        }

        /** The task put in front of QUERY inputs ({@code Instruct: {task}\nQuery:{text}}); none by default. */
        public Builder queryInstruction(String instruction) {
            this.queryInstruction = instruction;
            return this;
        }

        /**
         * Text put verbatim in front of QUERY inputs, such as nomic-embed-text's {@code "search_query: "}; none by
         * default. Not together with {@link #queryInstruction}.
         */
        public Builder queryPrefix(String prefix) {
            this.queryPrefix = prefix;
            return this;
        }

        /** Text put verbatim in front of DOCUMENT inputs, such as {@code "search_document: "}; none by default. */
        public Builder documentPrefix(String prefix) {
            this.documentPrefix = prefix;
            return this;
        }

        public Builder listeners(List<EmbeddingModelListener> listeners) {
            this.listeners.clear();
            if (listeners != null) {
                this.listeners.addAll(listeners);
            }
            return this;
        }

        Path resolvePath() {
            return resolvePath("the embedding model's");
        }

        public OffloadEmbeddingModel build() {
            return new OffloadEmbeddingModel(this);
        }
    }
}

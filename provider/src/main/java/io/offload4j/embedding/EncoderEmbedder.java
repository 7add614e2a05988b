package io.offload4j.embedding;

import io.offload4j.tokenizer.EncoderTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Embeddings from a BERT-family encoder (all-MiniLM, bge, e5, gte-base ...): each text framed by [CLS]/[SEP], cut to
 * the model's limit, packed with others into one pass, pooled (CLS or mean, as the sentence-transformers config or
 * the GGUF's {@code pooling_type} says) and, as the model's {@code Normalize} module says, scaled to unit length.
 */
public final class EncoderEmbedder implements TextEmbedder {

    private final EncoderRuntime runtime;
    private final Pooling pooling;
    private final boolean normalize;

    EncoderEmbedder(Path path, EmbeddingOptions options) {
        this.runtime = new EncoderRuntime(path, options);
        try {
            SentenceTransformersConfig st = Files.isDirectory(path)
                    ? SentenceTransformersConfig.read(path).orElse(null) : null;
            Pooling fromModel = st != null ? st.pooling() : ggufPooling();
            this.pooling = options.pooling() != null ? options.pooling() : fromModel;
            this.normalize = options.normalize() != null ? options.normalize() : st == null || st.normalize();
            if (pooling == Pooling.LAST) {
                // an encoder's [SEP] row is a valid choice only if the model was trained so; allowed, not a default
                System.getLogger("io.offload4j.embedding").log(System.Logger.Level.INFO,
                        "offload4j: last-token pooling of an encoder pools its [SEP] row");
            }
        } catch (RuntimeException | Error e) {
            runtime.close();
            throw e;
        }
    }

    /** llama.cpp's {@code <architecture>.pooling_type} ({@code bert.}, {@code nomic-bert.}): 1 mean, 2 CLS; mean when absent. */
    private Pooling ggufPooling() {
        var md = runtime.model.ggufMetadata();
        int type = md == null ? 1
                : md.getInt(md.optString("general.architecture").orElse("bert") + ".pooling_type", 1);
        return type == 2 ? Pooling.CLS : type == 3 ? Pooling.LAST : Pooling.MEAN;
    }

    public Pooling pooling() {
        return pooling;
    }

    public boolean normalizes() {
        return normalize;
    }

    @Override
    public int dimension() {
        return runtime.model.config().embeddingLength();
    }

    @Override
    public String modelName() {
        return runtime.model.config().name();
    }

    /** The ids a text is encoded to (with its special tokens), as the model sees it. */
    public int[] tokenize(String text) {
        return runtime.tokenizer.encode(text, runtime.maxTokens).ids();
    }

    @Override
    public int tokenCount(String text) {
        return tokenize(text).length;
    }

    @Override
    public List<float[]> embed(List<String> texts, int[] tokens) {
        List<EncoderTokenizer.Encoding> inputs = new ArrayList<>(texts.size());
        for (int i = 0; i < texts.size(); i++) {
            EncoderTokenizer.Encoding e = runtime.tokenizer.encode(texts.get(i), runtime.maxTokens);
            inputs.add(e);
            if (tokens != null) {
                tokens[i] = e.length();
            }
        }
        int dim = dimension();
        float[][] out = new float[texts.size()][];
        runtime.run(inputs, (hidden, from, lengths, n) -> {
            int row = 0;
            for (int s = 0; s < n; s++) {
                float[] v = new float[dim];
                pooling.pool(hidden, row, lengths[s], dim, v);
                if (normalize) {
                    Pooling.normalize(v);
                }
                out[from + s] = v;
                row += lengths[s];
            }
        });
        return List.of(out);
    }

    @Override
    public void close() {
        runtime.close();
    }
}

package io.offload4j.model;

import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.gguf.ModelFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A loaded model: its config, its weights (views of the memory-mapped GGUF file or safetensors shards) and
 * its metadata in GGUF form (for a Hugging Face directory: the keys its config.json amounts to). Closing it
 * releases the mappings; nothing read from it may be used afterwards.
 */
public final class Model implements AutoCloseable {

    private final Path path;
    private final GgufMetadata metadata;
    private final GgufFile file;
    private final AutoCloseable resources;
    private final ModelConfig config;
    private final ModelWeights weights;

    private Model(Path path, GgufMetadata metadata, GgufFile file, AutoCloseable resources, ModelConfig config,
                  ModelWeights weights) {
        this.path = path;
        this.metadata = metadata;
        this.file = file;
        this.resources = resources;
        this.config = config;
        this.weights = weights;
    }

    /**
     * Maps and validates a model: a GGUF file, or a Hugging Face model directory ({@code config.json} and
     * {@code *.safetensors}, see {@link HuggingFaceModels}). Every tensor the architecture needs is checked
     * for presence and shape.
     */
    public static Model load(Path path) {
        if (Files.isDirectory(path)) {
            return HuggingFaceModels.load(path);
        }
        GgufFile file = GgufFile.open(path);
        try {
            return fromFile(file);
        } catch (RuntimeException e) {
            file.close();
            throw e;
        }
    }

    /** Builds a model over an open GGUF file, taking ownership of it. */
    public static Model fromFile(GgufFile file) {
        GgufMetadata md = file.metadata();
        Path path = file.path();
        if (file.tensors().isEmpty()) {
            throw new ModelFormatException(path, "has no tensors: it is a vocabulary-only GGUF (or a header without"
                    + " weights), not a model; point to the model's .gguf file");
        }
        GgufTensorInfo embd = file.tensors().get("token_embd.weight");
        int vocab = md.has("tokenizer.ggml.tokens") ? md.getArray("tokenizer.ggml.tokens").length()
                : embd != null ? (int) embd.dim(1) : 0;
        ModelConfig config = ModelConfig.fromMetadata(path, md, vocab);
        return assemble(path, md, file, file, config, new GgufTensorSource(file));
    }

    /**
     * Binds every tensor {@code config} needs from {@code source} (GGUF names) into a model owning
     * {@code resources}. The output projection is the embedding when the source has no {@code output.weight}.
     */
    static Model assemble(Path path, GgufMetadata md, GgufFile file, AutoCloseable resources, ModelConfig config,
                          TensorSource source) {
        TensorBinder t = new TensorBinder(source, config.architecture().ggufName());
        int vocab = config.vocabularySize();
        int dim = config.embeddingLength();
        Weight tokenEmbedding = t.matrix("token_embd.weight", vocab, dim);
        // No capacity taken from the file: a block count of 2^31-1 must fail on its missing tensors, not on memory.
        List<BlockWeights> blocks = new ArrayList<>();
        for (int i = 0; i < config.blockCount(); i++) {
            blocks.add(block(t, config, i));
        }
        float[] outputNorm = t.vector("output_norm.weight", dim);
        boolean tied = !t.has("output.weight");
        Weight output = tied ? tokenEmbedding : t.matrix("output.weight", vocab, dim);
        float[] ropeFreqs = t.has("rope_freqs.weight") ? t.vector("rope_freqs.weight", config.ropeDimensions() / 2) : null;
        return new Model(path, md, file, resources, config,
                new ModelWeights(tokenEmbedding, List.copyOf(blocks), outputNorm, output, tied, ropeFreqs));
    }

    private static BlockWeights block(TensorBinder t, ModelConfig c, int i) {
        String p = "blk." + i + ".";
        int dim = c.embeddingLength();
        Architecture a = c.architecture();
        // Gemma: ffn_norm is the pre-FFN norm; its post-norms are extra tensors (llama.cpp's names).
        boolean gemma = a.isGemma();
        return new BlockWeights(i,
                t.vector(p + "attn_norm.weight", dim),
                t.matrix(p + "attn_q.weight", c.queryDim(), dim),
                t.matrix(p + "attn_k.weight", c.keyValueDim(), dim),
                t.matrix(p + "attn_v.weight", c.valueDim(), dim),
                t.matrix(p + "attn_output.weight", dim, c.queryDim()),
                a.hasQkvBias() ? t.vector(p + "attn_q.bias", c.queryDim()) : null,
                a.hasQkvBias() ? t.vector(p + "attn_k.bias", c.keyValueDim()) : null,
                a.hasQkvBias() ? t.vector(p + "attn_v.bias", c.valueDim()) : null,
                a.hasQkNorm() ? t.vector(p + "attn_q_norm.weight", c.headDim()) : null,
                a.hasQkNorm() ? t.vector(p + "attn_k_norm.weight", c.headDim()) : null,
                t.vector(p + "ffn_norm.weight", dim),
                t.matrix(p + "ffn_gate.weight", c.feedForwardLength(), dim),
                t.matrix(p + "ffn_up.weight", c.feedForwardLength(), dim),
                t.matrix(p + "ffn_down.weight", dim, c.feedForwardLength()),
                gemma ? t.vector(p + "post_attention_norm.weight", dim) : null,
                gemma ? t.vector(p + "post_ffw_norm.weight", dim) : null,
                gemma);
    }

    public ModelConfig config() {
        return config;
    }

    public ModelWeights weights() {
        return weights;
    }

    /** The GGUF metadata; for a Hugging Face directory, the GGUF keys its config.json amounts to (no tokenizer keys). */
    public GgufMetadata metadata() {
        return metadata;
    }

    /** Whether the weights come from a GGUF file ({@link #file()}) rather than a safetensors directory. */
    public boolean isGguf() {
        return file != null;
    }

    /**
     * The GGUF file.
     *
     * @throws IllegalStateException for a model loaded from a safetensors directory
     */
    public GgufFile file() {
        if (file == null) {
            throw new IllegalStateException(path + " is a Hugging Face safetensors directory, not a GGUF file");
        }
        return file;
    }

    /** The GGUF file, or the Hugging Face model directory. */
    public Path path() {
        return path;
    }

    @Override
    public void close() {
        try {
            resources.close();
        } catch (RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IllegalStateException("closing " + path + " failed", e);
        }
    }
}

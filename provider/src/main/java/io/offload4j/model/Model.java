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
                new ModelWeights(tokenEmbedding, List.copyOf(blocks), outputNorm, output, tied, ropeFreqs,
                        longRope(t, md, config)));
    }

    /**
     * Phi-3's LongRoPE factors ({@code rope_factors_short/long.weight}, both or neither) with the original context
     * and attention factor from the metadata, as llama.cpp's converter writes them; null without the tensors.
     */
    private static LongRope longRope(TensorBinder t, GgufMetadata md, ModelConfig c) {
        boolean hasShort = t.has(LONG_ROPE_SHORT);
        boolean hasLong = t.has(LONG_ROPE_LONG);
        if (!hasShort && !hasLong) {
            return null;
        }
        String p = c.architecture().ggufName() + ".";
        int half = c.ropeDimensions() / 2;
        // Each named in the error when the other is present but this one is not.
        float[] shortFactors = t.vector(LONG_ROPE_SHORT, half);
        float[] longFactors = t.vector(LONG_ROPE_LONG, half);
        int original = md.getInt(p + "rope.scaling.original_context_length", c.contextLength());
        float attention = md.getFloat(p + "rope.scaling.attn_factor", 1f);
        return new LongRope(shortFactors, longFactors, original, attention);
    }

    static final String LONG_ROPE_SHORT = "rope_factors_short.weight";
    static final String LONG_ROPE_LONG = "rope_factors_long.weight";

    /**
     * Q, K and V: separate tensors, or views of the rows of one fused {@code attn_qkv} (phi3; Q's rows, then K's,
     * then V's), so that every device computes them as three matrices without copying anything.
     */
    private static Weight[] qkv(TensorBinder t, ModelConfig c, String p) {
        int dim = c.embeddingLength();
        if (t.has(p + "attn_qkv.weight")) {
            Weight fused = t.matrix(p + "attn_qkv.weight", c.queryDim() + c.keyValueDim() + c.valueDim(), dim);
            return new Weight[] {fused.rowSlice(0, c.queryDim()), fused.rowSlice(c.queryDim(), c.keyValueDim()),
                    fused.rowSlice(c.queryDim() + c.keyValueDim(), c.valueDim())};
        }
        return new Weight[] {t.matrix(p + "attn_q.weight", c.queryDim(), dim),
                t.matrix(p + "attn_k.weight", c.keyValueDim(), dim),
                t.matrix(p + "attn_v.weight", c.valueDim(), dim)};
    }

    /** Gate and up: separate tensors, or views of one {@code ffn_up} of twice the FFN rows, gate first (phi3). */
    private static Weight[] gateUp(TensorBinder t, ModelConfig c, String p) {
        int dim = c.embeddingLength();
        int ffn = c.feedForwardLength();
        if (c.architecture().hasFusedGateUp()) {
            Weight fused = t.matrix(p + "ffn_up.weight", 2 * ffn, dim);
            return new Weight[] {fused.rowSlice(0, ffn), fused.rowSlice(ffn, ffn)};
        }
        return new Weight[] {t.matrix(p + "ffn_gate.weight", ffn, dim), t.matrix(p + "ffn_up.weight", ffn, dim)};
    }

    private static BlockWeights block(TensorBinder t, ModelConfig c, int i) {
        String p = "blk." + i + ".";
        int dim = c.embeddingLength();
        Architecture a = c.architecture();
        float[] attentionNorm = t.vector(p + "attn_norm.weight", dim);
        Weight[] qkv = qkv(t, c, p);
        Weight wo = t.matrix(p + "attn_output.weight", dim, c.queryDim());
        float[][] qkvBias = a.hasQkvBias() ? new float[][] {t.vector(p + "attn_q.bias", c.queryDim()),
                t.vector(p + "attn_k.bias", c.keyValueDim()), t.vector(p + "attn_v.bias", c.valueDim())}
                : new float[3][];
        float[] qNorm = a.hasQkNorm() ? t.vector(p + "attn_q_norm.weight", c.headDim()) : null;
        float[] kNorm = a.hasQkNorm() ? t.vector(p + "attn_k_norm.weight", c.headDim()) : null;
        float[] ffnNorm = t.vector(p + "ffn_norm.weight", dim);
        // A block of a mixture-of-experts model is sparse when it has a router; Qwen's decoder_sparse_step and
        // mlp_only_layers leave some blocks dense, with the dense FFN tensors instead.
        boolean sparse = c.moe() != null && (t.has(p + "ffn_gate_inp.weight") || !t.has(p + "ffn_gate.weight"));
        Weight[] gateUp = sparse ? new Weight[2] : gateUp(t, c, p);
        // Gemma: ffn_norm is the pre-FFN norm; its post-norms are extra tensors (llama.cpp's names).
        boolean gemma = a.isGemma();
        return new BlockWeights(i,
                attentionNorm,
                qkv[0],
                qkv[1],
                qkv[2],
                wo,
                qkvBias[0],
                qkvBias[1],
                qkvBias[2],
                qNorm,
                kNorm,
                ffnNorm,
                gateUp[0],
                gateUp[1],
                sparse ? null : t.matrix(p + "ffn_down.weight", dim, c.feedForwardLength()),
                sparse ? experts(t, c, i) : null,
                gemma ? t.vector(p + "post_attention_norm.weight", dim) : null,
                gemma ? t.vector(p + "post_ffw_norm.weight", dim) : null,
                gemma);
    }

    /** The sparse FFN of block {@code i}: router, experts (merged 3-D or per-expert tensors), shared expert. */
    private static MoeWeights experts(TensorBinder t, ModelConfig c, int i) {
        String p = "blk." + i + ".";
        int dim = c.embeddingLength();
        MoeConfig m = c.moe();
        int n = m.expertCount();
        int ffn = m.expertFeedForwardLength();
        int shared = m.sharedFeedForwardLength();
        return new MoeWeights(
                t.matrix(p + "ffn_gate_inp.weight", n, dim),
                t.experts(i, "ffn_gate", n, ffn, dim),
                t.experts(i, "ffn_up", n, ffn, dim),
                t.experts(i, "ffn_down", n, dim, ffn),
                shared > 0 ? t.vector(p + "ffn_gate_inp_shexp.weight", dim) : null,
                shared > 0 ? t.matrix(p + "ffn_gate_shexp.weight", shared, dim) : null,
                shared > 0 ? t.matrix(p + "ffn_up_shexp.weight", shared, dim) : null,
                shared > 0 ? t.matrix(p + "ffn_down_shexp.weight", dim, shared) : null);
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

package io.offload4j.model;

import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The shape and hyper-parameters of a model, read from GGUF metadata ({@code <arch>.*} keys).
 *
 * @param embeddingLength   model width (hidden size)
 * @param headDim           size of one Q/K head ({@code attention.key_length}; qwen3 may differ from width/heads)
 * @param valueHeadDim      size of one V head ({@code attention.value_length})
 * @param ropeDimensions    leading dimensions of each head that RoPE rotates
 * @param contextLength     the context length the model was trained for
 * @param ropeLayout        which dimensions RoPE pairs: the architecture's for GGUF files (whose llama Q/K rows
 *                          llama.cpp permuted for adjacent pairs), {@link RopeLayout#HALVES} for Hugging Face
 *                          checkpoints of every architecture (their Q/K rows are as trained, for rotate-half)
 * @param slidingWindow     positions a token attends to when the model was trained with sliding-window attention
 *                          ({@code attention.sliding_window}; Hugging Face {@code sliding_window}), else 0. For
 *                          llama (Mistral) and phi3 the window applies to every block and becomes {@code traits}'
 *                          sliding window (computed as Gemma's, with a ring KV cache); for other architectures
 *                          (Qwen's windowed layers) the engine attends to the whole context, which is exactly
 *                          sliding-window attention while the context is no longer than the window, and refuses
 *                          longer contexts. Gemma's windows (some blocks local, some global) are in {@code traits}
 *                          only, and this is 0 for Gemma.
 * @param moe               the mixture-of-experts shape, or null for a dense model
 * @param traits            embedding and attention scales, soft caps and sliding-window blocks ({@link ModelTraits};
 *                          {@link ModelTraits#standard} unless the architecture or metadata says otherwise)
 */
public record ModelConfig(
        String name,
        Architecture architecture,
        int embeddingLength,
        int blockCount,
        int feedForwardLength,
        int headCount,
        int headCountKv,
        int headDim,
        int valueHeadDim,
        float rmsNormEps,
        int contextLength,
        int vocabularySize,
        int ropeDimensions,
        float ropeFreqBase,
        RopeScaling ropeScaling,
        RopeLayout ropeLayout,
        int slidingWindow,
        MoeConfig moe,
        ModelTraits traits) {

    /** More transformer blocks than any model has: a larger {@code block_count} is a damaged file. */
    public static final int MAX_BLOCKS = 1 << 16;

    public ModelConfig {
        java.util.Objects.requireNonNull(ropeLayout, "ropeLayout");
        if (traits == null) {
            traits = ModelTraits.standard(blockCount, headDim, ropeFreqBase, ropeScaling);
        }
        if (slidingWindow > 0 && !traits.hasSlidingWindow()
                && (architecture == Architecture.LLAMA || architecture == Architecture.PHI3)) {
            // Mistral's and Phi-3's window applies to every block: Gemma's sliding-window attention (and its ring KV
            // cache) computes it. Qwen's windows (some layers only) are not wired; MemoryPlan keeps within them.
            boolean[] all = new boolean[blockCount];
            java.util.Arrays.fill(all, true);
            traits = traits.withSlidingWindow(slidingWindow, all);
        }
    }

    /**
     * A dense model's config with the {@linkplain ModelTraits#standard standard} traits (llama, qwen2, qwen3) and
     * without sliding-window attention.
     */
    public ModelConfig(String name, Architecture architecture, int embeddingLength, int blockCount,
                       int feedForwardLength, int headCount, int headCountKv, int headDim, int valueHeadDim,
                       float rmsNormEps, int contextLength, int vocabularySize, int ropeDimensions, float ropeFreqBase,
                       RopeScaling ropeScaling, RopeLayout ropeLayout) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                valueHeadDim, rmsNormEps, contextLength, vocabularySize, ropeDimensions, ropeFreqBase, ropeScaling,
                ropeLayout, 0, null, null);
    }

    /** A dense model's config with {@code traits} (null: the standard ones), as Gemma's. */
    public ModelConfig(String name, Architecture architecture, int embeddingLength, int blockCount,
                       int feedForwardLength, int headCount, int headCountKv, int headDim, int valueHeadDim,
                       float rmsNormEps, int contextLength, int vocabularySize, int ropeDimensions, float ropeFreqBase,
                       RopeScaling ropeScaling, RopeLayout ropeLayout, ModelTraits traits) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                valueHeadDim, rmsNormEps, contextLength, vocabularySize, ropeDimensions, ropeFreqBase, ropeScaling,
                ropeLayout, 0, null, traits);
    }

    /** A config with {@code slidingWindow} and the mixture-of-experts shape {@code moe} (null: dense). */
    public ModelConfig(String name, Architecture architecture, int embeddingLength, int blockCount,
                       int feedForwardLength, int headCount, int headCountKv, int headDim, int valueHeadDim,
                       float rmsNormEps, int contextLength, int vocabularySize, int ropeDimensions, float ropeFreqBase,
                       RopeScaling ropeScaling, RopeLayout ropeLayout, int slidingWindow, MoeConfig moe) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                valueHeadDim, rmsNormEps, contextLength, vocabularySize, ropeDimensions, ropeFreqBase, ropeScaling,
                ropeLayout, slidingWindow, moe, null);
    }

    /** A dense model's config with {@code slidingWindow}. */
    public ModelConfig(String name, Architecture architecture, int embeddingLength, int blockCount,
                       int feedForwardLength, int headCount, int headCountKv, int headDim, int valueHeadDim,
                       float rmsNormEps, int contextLength, int vocabularySize, int ropeDimensions, float ropeFreqBase,
                       RopeScaling ropeScaling, RopeLayout ropeLayout, int slidingWindow) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                valueHeadDim, rmsNormEps, contextLength, vocabularySize, ropeDimensions, ropeFreqBase, ropeScaling,
                ropeLayout, slidingWindow, null);
    }

    /** A config with the mixture-of-experts shape {@code moe} (null: dense), without sliding-window attention. */
    public ModelConfig(String name, Architecture architecture, int embeddingLength, int blockCount,
                       int feedForwardLength, int headCount, int headCountKv, int headDim, int valueHeadDim,
                       float rmsNormEps, int contextLength, int vocabularySize, int ropeDimensions, float ropeFreqBase,
                       RopeScaling ropeScaling, RopeLayout ropeLayout, MoeConfig moe) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                valueHeadDim, rmsNormEps, contextLength, vocabularySize, ropeDimensions, ropeFreqBase, ropeScaling,
                ropeLayout, 0, moe);
    }

    /** Whether the model has sparse (mixture-of-experts) blocks. */
    public boolean isMixtureOfExperts() {
        return moe != null;
    }

    /** The same config with RoPE pairing the dimensions as {@code layout} says. */
    public ModelConfig withRopeLayout(RopeLayout layout) {
        return new ModelConfig(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv,
                headDim, valueHeadDim, rmsNormEps, contextLength, vocabularySize, ropeDimensions, ropeFreqBase, ropeScaling,
                layout, slidingWindow, moe, traits);
    }

    public int queryDim() {
        return headCount * headDim;
    }

    public int keyValueDim() {
        return headCountKv * headDim;
    }

    public int valueDim() {
        return headCountKv * valueHeadDim;
    }

    /** Reads the config; {@code vocabularySize} comes from the caller (token list or embedding shape). */
    public static ModelConfig fromMetadata(Path file, GgufMetadata md, int vocabularySize) {
        String archName = md.getString("general.architecture");
        Architecture arch = Architecture.byGgufName(archName).orElseThrow(() -> new ModelFormatException(file,
                "metadata key 'general.architecture' is '" + archName + "', which this engine does not run; supported: "
                        + Architecture.supportedNames()));
        String p = archName + ".";
        int dim = positive(file, md, p + "embedding_length");
        int blocks = positive(file, md, p + "block_count");
        if (blocks > MAX_BLOCKS) { // before anything sized by it is allocated
            throw new ModelFormatException(file, "metadata key '" + p + "block_count' is " + blocks + "; the largest"
                    + " models have a few hundred blocks (at most " + MAX_BLOCKS + " are accepted): the file is damaged");
        }
        int ffn = positive(file, md, p + "feed_forward_length");
        int heads = positive(file, md, p + "attention.head_count");
        int kvHeads = md.has(p + "attention.head_count_kv") ? positive(file, md, p + "attention.head_count_kv") : heads;
        if (heads % kvHeads != 0) {
            throw new ModelFormatException(file, "metadata: " + p + "attention.head_count (" + heads
                    + ") is not a multiple of " + p + "attention.head_count_kv (" + kvHeads + ")");
        }
        int headDim = md.has(p + "attention.key_length") ? positive(file, md, p + "attention.key_length") : dim / heads;
        int valueHeadDim = md.has(p + "attention.value_length") ? positive(file, md, p + "attention.value_length") : headDim;
        if (!md.has(p + "attention.key_length") && dim % heads != 0) {
            throw new ModelFormatException(file, "metadata: " + p + "embedding_length (" + dim
                    + ") is not a multiple of " + p + "attention.head_count (" + heads + ") and no key_length is given");
        }
        if (valueHeadDim != headDim) {
            throw new ModelFormatException(file, "metadata: " + p + "attention.value_length (" + valueHeadDim
                    + ") differs from key_length (" + headDim + "); such models are not supported");
        }
        float eps = md.getFloat(p + "attention.layer_norm_rms_epsilon", 1e-5f);
        int ctx = md.has(p + "context_length") ? positive(file, md, p + "context_length") : 2048;
        int ropeDims = md.has(p + "rope.dimension_count") ? positive(file, md, p + "rope.dimension_count") : headDim;
        if (ropeDims > headDim || ropeDims % 2 != 0) {
            throw new ModelFormatException(file, "metadata: " + p + "rope.dimension_count is " + ropeDims
                    + "; expected an even number no larger than the head size " + headDim);
        }
        float base = md.getFloat(p + "rope.freq_base", 10000f);
        RopeScaling scaling = ropeScaling(file, md, p);
        String name = md.optString("general.name").orElse(file.getFileName().toString());
        MoeConfig moe = MoeConfig.fromMetadata(file, md, arch, ffn);
        // 0 (Phi-4's converter writes it so) and absent both mean full attention; Gemma's window is in its traits
        int window = !arch.isGemma() && md.has(p + "attention.sliding_window")
                ? md.getInt(p + "attention.sliding_window") : 0;
        if (window < 0) {
            throw new ModelFormatException(file, "metadata key '" + p + "attention.sliding_window' is " + window
                    + "; expected 0 (none) or a positive number of positions");
        }
        ModelTraits traits = ModelTraitsReader.read(file, md, arch, dim, blocks, heads, headDim, base, scaling);
        return new ModelConfig(name, arch, dim, blocks, ffn, heads, kvHeads, headDim, valueHeadDim, eps, ctx,
                vocabularySize, ropeDims, base, scaling, arch.ropeLayout(), window, moe, traits);
    }

    private static RopeScaling ropeScaling(Path file, GgufMetadata md, String p) {
        String type = md.optString(p + "rope.scaling.type").orElse("none").toLowerCase(Locale.ROOT);
        float factor = md.getFloat(p + "rope.scaling.factor", md.getFloat(p + "rope.scale_linear", 1f));
        int original = md.getInt(p + "rope.scaling.original_context_length", 0);
        return switch (type) {
            case "none" -> factor != 1f && md.has(p + "rope.scale_linear")
                    ? new RopeScaling(RopeScaling.Type.LINEAR, factor, original) : RopeScaling.NONE;
            case "linear" -> {
                if (!(factor > 0)) {
                    throw new ModelFormatException(file, "metadata key '" + p + "rope.scaling.factor' is " + factor
                            + "; expected a positive number");
                }
                yield new RopeScaling(RopeScaling.Type.LINEAR, factor, original);
            }
            default -> throw new ModelFormatException(file, "metadata key '" + p + "rope.scaling.type' is '" + type
                    + "'; supported: none, linear (and Llama 3.1-style rope_freqs tensors)");
        };
    }

    private static int positive(Path file, GgufMetadata md, String key) {
        int v = md.getInt(key);
        if (v <= 0) {
            throw new ModelFormatException(file, "metadata key '" + key + "' is " + v + "; expected a positive number");
        }
        return v;
    }
}

package io.offload4j.model;

/**
 * The shape of a random-weight model for tests and benchmarks.
 *
 * @param headDim       0 = width / heads
 * @param moe           the experts of a mixture-of-experts model (every block sparse), or null for a dense model
 * @param slidingWindow gemma2/gemma3: the window of their sliding blocks (0: gemma2 gets llama.cpp's default 4096,
 *                      gemma3 none); ignored by the other architectures
 */
public record SyntheticModelSpec(String name, Architecture architecture, int embeddingLength, int blockCount,
                                 int feedForwardLength, int headCount, int headCountKv, int headDim, int vocabularySize,
                                 int contextLength, QuantPreset quantization, boolean tiedEmbeddings, long seed,
                                 SyntheticMoe moe, int slidingWindow) {

    /** A mixture-of-experts model (moe not null) or a dense one, without a sliding window. */
    public SyntheticModelSpec(String name, Architecture architecture, int embeddingLength, int blockCount,
                              int feedForwardLength, int headCount, int headCountKv, int headDim, int vocabularySize,
                              int contextLength, QuantPreset quantization, boolean tiedEmbeddings, long seed,
                              SyntheticMoe moe) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                vocabularySize, contextLength, quantization, tiedEmbeddings, seed, moe, 0);
    }

    /** A dense model with a sliding window (gemma2/gemma3). */
    public SyntheticModelSpec(String name, Architecture architecture, int embeddingLength, int blockCount,
                              int feedForwardLength, int headCount, int headCountKv, int headDim, int vocabularySize,
                              int contextLength, QuantPreset quantization, boolean tiedEmbeddings, long seed,
                              int slidingWindow) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                vocabularySize, contextLength, quantization, tiedEmbeddings, seed, null, slidingWindow);
    }

    /** A dense model without a sliding window. */
    public SyntheticModelSpec(String name, Architecture architecture, int embeddingLength, int blockCount,
                              int feedForwardLength, int headCount, int headCountKv, int headDim, int vocabularySize,
                              int contextLength, QuantPreset quantization, boolean tiedEmbeddings, long seed) {
        this(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount, headCountKv, headDim,
                vocabularySize, contextLength, quantization, tiedEmbeddings, seed, null, 0);
    }

    public SyntheticModelSpec {
        if (headDim == 0) {
            headDim = embeddingLength / headCount;
        }
        if (vocabularySize < 300) {
            throw new IllegalArgumentException("vocabularySize must be at least 300 (control, byte and word tokens)");
        }
        if (architecture == Architecture.GEMMA2) {
            tiedEmbeddings = true; // llama.cpp's gemma2 always computes the logits with the embedding
        }
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("slidingWindow must not be negative");
        }
        if (headCount % headCountKv != 0) {
            throw new IllegalArgumentException("headCount must be a multiple of headCountKv");
        }
        if (architecture.isMixtureOfExperts() && moe == null) {
            throw new IllegalArgumentException(architecture.ggufName() + " is a mixture of experts: give its experts");
        }
        if (moe != null && moe.sharedFfn() > 0 && architecture != Architecture.QWEN2MOE) {
            throw new IllegalArgumentException("a shared expert belongs to qwen2moe, not " + architecture.ggufName());
        }
        if (moe != null && architecture != Architecture.LLAMA && !architecture.isMixtureOfExperts()) {
            throw new IllegalArgumentException(architecture.ggufName() + " has no experts; use llama (Mixtral),"
                    + " qwen2moe or qwen3moe");
        }
    }

    /**
     * A tiny mixture of experts for fast tests (every format): qwen3moe and Mixtral-style llama with 8 experts of
     * which 2 are used; qwen2moe also with a shared expert. Router skew {@code zipf} (0 = uniform).
     */
    public static SyntheticModelSpec tinyMoe(Architecture arch, QuantPreset q, double zipf) {
        SyntheticMoe moe = new SyntheticMoe(8, 2, 256, arch == Architecture.QWEN2MOE ? 512 : 0, true, zipf);
        return new SyntheticModelSpec("tiny-moe-" + arch.ggufName(), arch, 256, 2, 512, 8, 4, 0, 512, 512, q, false,
                42, moe);
    }

    /**
     * Qwen3-30B-A3B's shape: 48 blocks, 2048 wide, 32 query and 4 KV heads of 128, 128 experts of FFN 768 with 8
     * used per token, 151936-token vocabulary (30.5 B parameters; 17 GiB as Q4_K_M). Router skew {@code zipf}.
     */
    public static SyntheticModelSpec qwen3_30b_a3b(QuantPreset q, double zipf) {
        return new SyntheticModelSpec("synthetic-qwen3-30b-a3b", Architecture.QWEN3MOE, 2048, 48, 6144, 32, 4, 128,
                151936, 4096, q, false, 303, new SyntheticMoe(128, 8, 768, 0, true, zipf));
    }

    /** Mixtral 8x7B's shape: 32 blocks, 4096 wide, 32/8 heads, 8 experts of FFN 14336, 2 per token (46.7 B). */
    public static SyntheticModelSpec mixtral_8x7b(QuantPreset q, double zipf) {
        return new SyntheticModelSpec("synthetic-mixtral-8x7b", Architecture.LLAMA, 4096, 32, 14336, 32, 8, 128,
                32000, 4096, q, false, 87, new SyntheticMoe(8, 2, 14336, 0, true, zipf));
    }

    public SyntheticModelSpec withMoe(SyntheticMoe m) {
        return new SyntheticModelSpec(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, headDim, vocabularySize, contextLength, quantization, tiedEmbeddings, seed, m);
    }

    /**
     * A tiny model for fast tests (every format: width and FFN are multiples of 256); for a mixture-of-experts
     * architecture, {@link #tinyMoe} with uniform routing.
     */
    public static SyntheticModelSpec tiny(Architecture arch, QuantPreset q) {
        if (arch.isMixtureOfExperts()) {
            return tinyMoe(arch, q, 0);
        }
        return new SyntheticModelSpec("tiny-" + arch.ggufName(), arch, 256, 2, 512, 8, 4, 0, 512, 512, q, false, 42);
    }

    /**
     * A tiny Mistral-Nemo-shaped llama: the head dimension (64) is not width / heads (512 / 4), so queries are
     * narrower than the model (Nemo 12B: width 5120, 32 heads of 128), as GGUF's {@code attention.key_length} says.
     */
    public static SyntheticModelSpec tinyMistral(QuantPreset q) {
        return new SyntheticModelSpec("tiny-mistral", Architecture.LLAMA, 512, 2, 512, 4, 2, 64, 512, 512, q, false, 12);
    }

    /**
     * A tiny Gemma (gemma2 or gemma3) for fast tests: as {@link #tiny}, 4 blocks, a window of {@code window}
     * positions on the sliding ones (blocks 0 and 2; 1 and 3 are global), tied embeddings.
     */
    public static SyntheticModelSpec tinyGemma(Architecture arch, QuantPreset q, int window) {
        return new SyntheticModelSpec("tiny-" + arch.ggufName(), arch, 256, 4, 512, 8, 4, 0, 512, 512, q, true, 42,
                window);
    }

    /** Gemma 2 2B's shape (2.6 B parameters; vocabulary 256000, window 4096). */
    public static SyntheticModelSpec gemma2_2b(QuantPreset q) {
        return new SyntheticModelSpec("synthetic-gemma-2-2b", Architecture.GEMMA2, 2304, 26, 9216, 8, 4, 256, 256000,
                8192, q, true, 22, 4096);
    }

    /** Gemma 3 1B's shape (1.0 B parameters; vocabulary 262144, window 512). */
    public static SyntheticModelSpec gemma3_1b(QuantPreset q) {
        return new SyntheticModelSpec("synthetic-gemma-3-1b", Architecture.GEMMA3, 1152, 26, 6912, 4, 1, 256, 262144,
                32768, q, true, 31, 512);
    }

    /** Llama 3.2 3B's shape (3.2 B parameters). */
    public static SyntheticModelSpec llama32_3b(QuantPreset q) {
        return new SyntheticModelSpec("synthetic-llama-3.2-3b", Architecture.LLAMA, 3072, 28, 8192, 24, 8, 128, 128256,
                8192, q, true, 3);
    }

    /** Llama 3 8B's shape (8.0 B parameters). */
    public static SyntheticModelSpec llama3_8b(QuantPreset q) {
        return new SyntheticModelSpec("synthetic-llama-3-8b", Architecture.LLAMA, 4096, 32, 14336, 32, 8, 128, 128256,
                8192, q, false, 8);
    }

    /**
     * LLaMA-30B's block shape (6656 wide, 60 blocks, FFN 17920, 52 heads of 128) with 4 KV heads and a 32000-token
     * vocabulary: about 32.5 B parameters, 18 GiB as Q4_K_M. For offloading benchmarks.
     */
    public static SyntheticModelSpec llama_30b(QuantPreset q) {
        return new SyntheticModelSpec("synthetic-llama-30b", Architecture.LLAMA, 6656, 60, 17920, 52, 4, 128, 32000,
                4096, q, false, 30);
    }

    /** A ~410M-parameter llama that CPU benchmarks can run on two cores. */
    public static SyntheticModelSpec small(QuantPreset q) {
        return new SyntheticModelSpec("synthetic-llama-410m", Architecture.LLAMA, 1024, 24, 4096, 16, 4, 64, 32000,
                2048, q, false, 380);
    }

    public SyntheticModelSpec withQuantization(QuantPreset q) {
        return new SyntheticModelSpec(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, headDim, vocabularySize, contextLength, q, tiedEmbeddings, seed, moe, slidingWindow);
    }

    public SyntheticModelSpec withArchitecture(Architecture a) {
        return new SyntheticModelSpec(name, a, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, headDim, vocabularySize, contextLength, quantization, tiedEmbeddings, seed, moe,
                slidingWindow);
    }

    public SyntheticModelSpec withTiedEmbeddings(boolean tied) {
        return new SyntheticModelSpec(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, headDim, vocabularySize, contextLength, quantization, tied, seed, moe, slidingWindow);
    }

    public SyntheticModelSpec withSlidingWindow(int window) {
        return new SyntheticModelSpec(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, headDim, vocabularySize, contextLength, quantization, tiedEmbeddings, seed, moe, window);
    }
}

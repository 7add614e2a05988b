package io.offload4j.model;

/**
 * The shape of a random-weight model for tests and benchmarks.
 *
 * @param headDim 0 = width / heads
 */
public record SyntheticModelSpec(String name, Architecture architecture, int embeddingLength, int blockCount,
                                 int feedForwardLength, int headCount, int headCountKv, int headDim, int vocabularySize,
                                 int contextLength, QuantPreset quantization, boolean tiedEmbeddings, long seed) {

    public SyntheticModelSpec {
        if (headDim == 0) {
            headDim = embeddingLength / headCount;
        }
        if (vocabularySize < 300) {
            throw new IllegalArgumentException("vocabularySize must be at least 300 (control, byte and word tokens)");
        }
        if (headCount % headCountKv != 0) {
            throw new IllegalArgumentException("headCount must be a multiple of headCountKv");
        }
    }

    /** A tiny llama for fast tests (every format: width and FFN are multiples of 256). */
    public static SyntheticModelSpec tiny(Architecture arch, QuantPreset q) {
        return new SyntheticModelSpec("tiny-" + arch.ggufName(), arch, 256, 2, 512, 8, 4, 0, 512, 512, q, false, 42);
    }

    /**
     * A tiny Mistral-Nemo-shaped llama: the head dimension (64) is not width / heads (512 / 4), so queries are
     * narrower than the model (Nemo 12B: width 5120, 32 heads of 128), as GGUF's {@code attention.key_length} says.
     */
    public static SyntheticModelSpec tinyMistral(QuantPreset q) {
        return new SyntheticModelSpec("tiny-mistral", Architecture.LLAMA, 512, 2, 512, 4, 2, 64, 512, 512, q, false, 12);
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
                headCountKv, headDim, vocabularySize, contextLength, q, tiedEmbeddings, seed);
    }

    public SyntheticModelSpec withArchitecture(Architecture a) {
        return new SyntheticModelSpec(name, a, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, headDim, vocabularySize, contextLength, quantization, tiedEmbeddings, seed);
    }

    public SyntheticModelSpec withTiedEmbeddings(boolean tied) {
        return new SyntheticModelSpec(name, architecture, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, headDim, vocabularySize, contextLength, quantization, tied, seed);
    }
}

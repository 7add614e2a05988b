package io.offload4j.embedding;

import io.offload4j.offload.OffloadOptions;

/**
 * Settings of an embedding or scoring model.
 *
 * @param device      {@code auto}, {@code cpu}, {@code cuda} or {@code cuda:N}; a BERT-family encoder on a GPU is
 *                    resident in fp32, and {@code auto} uses the CPU where no GPU is usable or the encoder does not fit
 * @param threads     CPU threads, 0 = one per processor
 * @param maxTokens   the longest input in tokens (longer ones are cut); 0 = the model's limit: for an encoder
 *                    directory {@code sentence_bert_config.json}'s {@code max_seq_length} (where sentence-transformers
 *                    cuts), else its position table; 512 for decoder models (their training context is far longer
 *                    than a passage needs)
 * @param batchTokens tokens of several texts run together in one pass (packed); the memory of the activations
 *                    grows with it. 0 = {@link #ENCODER_BATCH_TOKENS} for BERT-family models,
 *                    {@link #DECODER_BATCH_TOKENS} for decoder models, whose GPU workspace also holds a row of
 *                    logits per token (rows × vocabulary floats)
 * @param pooling     null: what the model says (sentence-transformers config, GGUF {@code pooling_type}, last token
 *                    for decoders)
 * @param normalize   null: what the model says (a sentence-transformers {@code Normalize} module; true for decoders
 *                    and for models that say nothing)
 * @param offload     GPU memory budget and placement of a decoder model that does not fit
 */
public record EmbeddingOptions(String device, int threads, int maxTokens, int batchTokens, Pooling pooling,
                               Boolean normalize, OffloadOptions offload) {

    public static final EmbeddingOptions DEFAULTS = new EmbeddingOptions("auto", 0, 0, 0, null, null,
            OffloadOptions.DEFAULTS);
    /** Tokens per pass of a BERT-family model when {@code batchTokens} is 0. */
    public static final int ENCODER_BATCH_TOKENS = 2048;
    /** Tokens per pass of a decoder model when {@code batchTokens} is 0. */
    public static final int DECODER_BATCH_TOKENS = 512;

    public EmbeddingOptions {
        if (threads < 0 || maxTokens < 0 || batchTokens < 0) {
            throw new IllegalArgumentException("threads, maxTokens and batchTokens must be 0 (automatic) or more: "
                    + threads + ", " + maxTokens + ", " + batchTokens);
        }
        device = device == null || device.isBlank() ? "auto" : device.trim();
        offload = offload == null ? OffloadOptions.DEFAULTS : offload;
    }

    public EmbeddingOptions withDevice(String d) {
        return new EmbeddingOptions(d, threads, maxTokens, batchTokens, pooling, normalize, offload);
    }

    public EmbeddingOptions withThreads(int t) {
        return new EmbeddingOptions(device, t, maxTokens, batchTokens, pooling, normalize, offload);
    }

    public EmbeddingOptions withMaxTokens(int m) {
        return new EmbeddingOptions(device, threads, m, batchTokens, pooling, normalize, offload);
    }

    public EmbeddingOptions withBatchTokens(int b) {
        return new EmbeddingOptions(device, threads, maxTokens, b, pooling, normalize, offload);
    }

    public EmbeddingOptions withPooling(Pooling p) {
        return new EmbeddingOptions(device, threads, maxTokens, batchTokens, p, normalize, offload);
    }

    public EmbeddingOptions withNormalize(Boolean n) {
        return new EmbeddingOptions(device, threads, maxTokens, batchTokens, pooling, n, offload);
    }

    public EmbeddingOptions withOffload(OffloadOptions o) {
        return new EmbeddingOptions(device, threads, maxTokens, batchTokens, pooling, normalize, o);
    }
}

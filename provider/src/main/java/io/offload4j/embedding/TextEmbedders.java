package io.offload4j.embedding;

import io.offload4j.model.EncoderModel;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads an embedding model: a BERT-family encoder, or a decoder model whose final hidden states are pooled. */
public final class TextEmbedders {

    private TextEmbedders() {}

    /**
     * @param path a GGUF file or a Hugging Face directory: an encoder ({@code bert} GGUF, {@code BertModel},
     *             {@code XLMRobertaModel}) or a decoder the engine runs ({@code Qwen3Model}, {@code Qwen3ForCausalLM}
     *             ...)
     */
    public static TextEmbedder load(Path path, EmbeddingOptions options) {
        if (!Files.exists(path)) {
            throw new IllegalArgumentException("embedding model " + path.toAbsolutePath() + " does not exist");
        }
        return EncoderModel.isEncoder(path) ? new EncoderEmbedder(path, options) : new DecoderEmbedder(path, options);
    }
}

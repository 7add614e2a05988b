package io.offload4j.embedding;

import io.offload4j.model.EncoderModel;
import java.nio.file.Files;
import java.nio.file.Path;

/** Loads a re-ranker: a BERT-family cross-encoder, or a Qwen3-Reranker-style decoder. */
public final class TextScorers {

    private TextScorers() {}

    /**
     * @param sigmoid     for a cross-encoder: map its logit into 0..1 (a decoder re-ranker's P(yes) already is)
     * @param instruction for a decoder re-ranker: the task in its prompt; null for its default
     */
    public static TextScorer load(Path path, EmbeddingOptions options, boolean sigmoid, String instruction) {
        if (!Files.exists(path)) {
            throw new IllegalArgumentException("scoring model " + path.toAbsolutePath() + " does not exist");
        }
        return EncoderModel.isEncoder(path) ? new CrossEncoderScorer(path, options, sigmoid)
                : new DecoderReranker(path, options, instruction);
    }
}

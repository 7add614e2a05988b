package io.offload4j.embedding;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * What a sentence-transformers model directory says about pooling and normalisation: {@code modules.json} lists its
 * modules (a {@code Normalize} module means unit-length vectors) and the {@code Pooling} module's
 * {@code config.json} (usually {@code 1_Pooling/config.json}) its pooling mode.
 */
record SentenceTransformersConfig(Pooling pooling, boolean normalize) {

    /**
     * {@code sentence_bert_config.json}'s {@code max_seq_length}: the length sentence-transformers cuts texts to
     * (all-MiniLM-L6-v2: 256, though its positions reach 512), or 0 when the directory does not say.
     */
    static int maxSeqLength(Path directory) {
        Path file = directory.resolve("sentence_bert_config.json");
        return Files.isRegularFile(file) ? Math.max(0, json(file).path("max_seq_length").asInt(0)) : 0;
    }

    /** The directory's configuration, or empty when it is not a sentence-transformers model. */
    static Optional<SentenceTransformersConfig> read(Path directory) {
        Path modules = directory.resolve("modules.json");
        if (!Files.isRegularFile(modules)) {
            return Optional.empty();
        }
        JsonNode list = json(modules);
        Pooling pooling = null;
        boolean normalize = false;
        for (JsonNode m : list) {
            String type = m.path("type").asText("");
            if (type.endsWith(".Normalize")) {
                normalize = true;
            } else if (type.endsWith(".Pooling")) {
                Path file = directory.resolve(m.path("path").asText("1_Pooling")).resolve("config.json");
                pooling = pooling(file, json(file));
            }
        }
        return pooling == null ? Optional.empty() : Optional.of(new SentenceTransformersConfig(pooling, normalize));
    }

    private static Pooling pooling(Path file, JsonNode c) {
        if (c.path("pooling_mode_cls_token").asBoolean(false)) {
            return Pooling.CLS;
        }
        if (c.path("pooling_mode_mean_tokens").asBoolean(false)) {
            return Pooling.MEAN;
        }
        if (c.path("pooling_mode_lasttoken").asBoolean(false)) {
            return Pooling.LAST;
        }
        throw new ModelFormatException(file, "sets no pooling mode supported here (pooling_mode_cls_token,"
                + " pooling_mode_mean_tokens or pooling_mode_lasttoken); max and weighted-mean pooling are not"
                + " supported: set the pooling explicitly to override");
    }

    private static JsonNode json(Path file) {
        try {
            return new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw new ModelFormatException(file, "cannot be read as JSON: " + e.getMessage(), e);
        }
    }
}

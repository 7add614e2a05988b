package io.offload4j.engine;

import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.HuggingFaceModels;
import io.offload4j.model.Model;
import io.offload4j.safetensors.SafetensorsCheckpoint;
import io.offload4j.tokenizer.HuggingFaceTokenizerFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What the engine loads from a model path: a GGUF file (weights, tokenizer and template in one file), or a
 * Hugging Face directory, whose tokenizer files are converted to the same {@code tokenizer.*} metadata.
 */
public final class ModelFiles {

    private ModelFiles() {}

    /** Loads the weights; for a directory, first checks that every file the engine needs is there. */
    public static Model load(Path path) {
        if (Files.isDirectory(path)) {
            List<String> missing = new ArrayList<>();
            if (!Files.isRegularFile(path.resolve(HuggingFaceModels.CONFIG_FILE))) {
                missing.add(HuggingFaceModels.CONFIG_FILE);
            }
            if (!SafetensorsCheckpoint.hasWeights(path)) {
                missing.add("*.safetensors");
            }
            if (!HuggingFaceTokenizerFiles.hasTokenizer(path)) {
                missing.add(HuggingFaceTokenizerFiles.TOKENIZER_JSON);
            }
            if (!missing.isEmpty()) {
                throw new ModelFormatException(path, "is a directory without " + String.join(", ", missing) + "; "
                        + HuggingFaceModels.REQUIRED_FILES + " (or pass a .gguf file)");
            }
        }
        return Model.load(path);
    }

    /** The metadata the tokenizer and the chat template are built from. */
    public static GgufMetadata tokenizerMetadata(Model model) {
        if (model.isGguf()) {
            return model.metadata();
        }
        GgufMetadata tokenizer = HuggingFaceTokenizerFiles.load(model.path(), model.config().vocabularySize());
        Map<String, GgufMetadata.Entry> all = new LinkedHashMap<>(model.metadata().entries());
        all.putAll(tokenizer.entries());
        all.put("general.name", model.metadata().entries().get("general.name"));
        return new GgufMetadata(model.path(), all);
    }
}

package io.offload4j.spring.boot;

import io.offload4j.gguf.ModelFormatException;
import io.offload4j.spring.boot.diagnostics.OffloadStartupException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads the embedding or scoring model a property names, as {@link OffloadEngineLoader} loads the chat model: the
 * Hub model resolved, the time logged, and every failure turned into an {@link OffloadStartupException} whose
 * description names the property and its value and whose action says what to do.
 */
final class SubModelLoader {

    private static final Logger LOG = LoggerFactory.getLogger(SubModelLoader.class);

    private SubModelLoader() {}

    static <T> T load(String prefix, String spec, String device, Function<Path, T> build) {
        String key = prefix + ".model";
        Path path;
        try {
            path = ModelLocations.resolve(spec, null);
        } catch (IllegalStateException e) {
            throw new OffloadStartupException(key + " = '" + spec + "' could not be fetched from the Hugging Face"
                    + " Hub: " + (e.getCause() != null ? e.getCause().getMessage() : e.getMessage()),
                    "Check that this machine reaches the Hub (HF_ENDPOINT, a proxy, HF_TOKEN for a gated repository),"
                            + " or download the model once and set " + key + " to its path.", e);
        }
        if (!Files.exists(path)) {
            throw new OffloadStartupException(key + " = '" + spec + "' names no existing file or directory (looked for "
                    + path.toAbsolutePath() + ").", "Set " + key + " to a GGUF file or a Hugging Face model directory"
                    + ModelLocations.OTHER_FORMS + ".");
        }
        long start = System.nanoTime();
        T model;
        try {
            model = build.apply(path);
        } catch (ModelFormatException e) {
            throw new OffloadStartupException(key + " = '" + spec + "' is not a model the engine can load: "
                    + e.getMessage(), "Set " + key + " to a GGUF file or a Hugging Face directory (config.json,"
                    + " *.safetensors, tokenizer.json) of a supported embedding or re-ranking model (BERT, XLM-RoBERTa,"
                    + " Qwen3-Embedding, Qwen3-Reranker ...).", e);
        } catch (RuntimeException e) {
            throw new OffloadStartupException(key + " = '" + spec + "' could not be loaded on " + prefix + ".device = '"
                    + device + "': " + ModelLoadFailures.propertyWording(e.getMessage()),
                    "See the reason above; a model of the wrong kind (an embedding model as re-ranker or the other way"
                            + " round) is refused; without a usable GPU set " + prefix + ".device=cpu.", e);
        }
        LOG.info("offload4j: {} = {} loaded in {} ms", key, spec, (System.nanoTime() - start) / 1_000_000);
        return model;
    }
}

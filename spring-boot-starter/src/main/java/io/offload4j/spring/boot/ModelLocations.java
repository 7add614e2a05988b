package io.offload4j.spring.boot;

import io.offload4j.hub.DownloadListener;
import io.offload4j.hub.ModelResolutionException;
import io.offload4j.hub.ModelResolver;
import java.nio.file.Path;

/**
 * Where the model named by {@code langchain4j.offload.model} is: a local path, or a Hugging Face Hub model that
 * {@link ModelResolver} finds in the hub cache or downloads there (logging the download's progress).
 */
final class ModelLocations {

    /** What else the property accepts, appended to error messages about a missing file. */
    static final String OTHER_FORMS = ", or a Hugging Face model: owner/repo:Q4_K_M (the repository's GGUF file of"
            + " that quantization) or hf:owner/repo/file.gguf";

    private ModelLocations() {}

    /** Whether {@code spec} names a model on the hub rather than a local path (it may still be cached). */
    static boolean isHubSpec(String spec) {
        return ModelResolver.isHubSpec(spec.trim());
    }

    /**
     * The local path of the model {@code spec} names, downloading it into {@code cacheDir} (null = the hub cache
     * of the environment: {@code HF_HUB_CACHE}, {@code HF_HOME}, ~/.cache/huggingface/hub) if need be. The hub's
     * other settings come from the environment as for {@code huggingface_hub}: {@code HF_TOKEN},
     * {@code HF_ENDPOINT}, {@code HF_HUB_OFFLINE}.
     *
     * @throws IllegalStateException naming the property when the spec cannot be resolved; the cause says why
     */
    static Path resolve(String spec, Path cacheDir) {
        String s = spec.trim();
        if (!isHubSpec(s)) {
            return Path.of(s);
        }
        ModelResolver.Builder b = ModelResolver.builder();
        if (cacheDir != null) {
            b.cacheDir(cacheDir);
        }
        try {
            return b.build().resolve(s, DownloadListener.logging());
        } catch (ModelResolutionException e) {
            throw new IllegalStateException(OffloadProperties.PREFIX + ".model '" + spec + "' cannot be resolved: "
                    + e.getMessage(), e);
        }
    }
}

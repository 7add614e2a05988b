package io.offload4j.spring.boot;

import java.nio.file.Path;

/**
 * Where the model named by {@code langchain4j.offload.model} is: a local GGUF file for now.
 */
final class ModelLocations {

    /** What else the property accepts, appended to error messages. */
    static final String OTHER_FORMS = "";

    private ModelLocations() {}

    /** Whether {@code spec} names a model to fetch rather than a local path. */
    static boolean isHubSpec(String spec) {
        return false;
    }

    /** The local path of the model {@code spec} names. */
    static Path resolve(String spec, Path cacheDir) {
        return Path.of(spec.trim());
    }
}

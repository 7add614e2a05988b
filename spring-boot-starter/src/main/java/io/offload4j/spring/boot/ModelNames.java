package io.offload4j.spring.boot;

import io.offload4j.langchain4j.OffloadEngine;

/** The model name the meters and observations are tagged with: the name responses report, never a file path. */
final class ModelNames {

    private ModelNames() {}

    /**
     * {@code langchain4j.offload.chat-model.model-name} when set (responses then report it), else the model's own
     * name (the GGUF's {@code general.name}).
     */
    static String of(String configuredModelName, OffloadEngine engine) {
        return configuredModelName != null && !configuredModelName.isBlank() ? configuredModelName
                : engine.modelName();
    }
}

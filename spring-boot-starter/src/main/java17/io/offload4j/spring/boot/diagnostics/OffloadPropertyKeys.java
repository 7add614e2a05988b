package io.offload4j.spring.boot.diagnostics;

import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.EnumerablePropertySource;
import org.springframework.core.env.Environment;
import org.springframework.core.env.PropertySource;

/** The {@code langchain4j.offload.*} keys an application has set, to tell it when they do nothing. */
final class OffloadPropertyKeys {

    static final String PREFIX = "langchain4j.offload.";
    static final String MODEL = PREFIX + "model";

    private OffloadPropertyKeys() {}

    /** Whether {@code langchain4j.offload.model} is set (in any of Spring's relaxed forms) to a non-blank value. */
    static boolean modelIsSet(Environment environment) {
        return isSet(environment, MODEL);
    }

    /** The embedding and scoring models, each turned on by its own {@code model} key. */
    static final java.util.List<String> SUB_MODELS = java.util.List.of(PREFIX + "embedding-model.",
            PREFIX + "scoring-model.");

    /** Whether any offload4j model is set: the chat model, or an embedding or scoring model. */
    static boolean anyModelIsSet(Environment environment) {
        return modelIsSet(environment) || SUB_MODELS.stream().anyMatch(p -> isSet(environment, p + "model"));
    }

    private static boolean isSet(Environment environment, String key) {
        String model = environment.getProperty(key);
        return model != null && !model.isBlank();
    }

    /** {@link #present} less the keys of embedding and scoring models whose own model is set (those do something). */
    static Set<String> presentWithoutEffect(Environment environment) {
        Set<String> keys = present(environment);
        for (String sub : SUB_MODELS) {
            if (isSet(environment, sub + "model")) {
                keys.removeIf(k -> k.startsWith(sub));
            }
        }
        return keys;
    }

    /**
     * The keys under {@code langchain4j.offload.} in the enumerable property sources, in their canonical form
     * ({@code LANGCHAIN4J_OFFLOAD_DEVICE} becomes {@code langchain4j.offload.device}), sorted.
     */
    static Set<String> present(Environment environment) {
        Set<String> keys = new TreeSet<>();
        if (environment instanceof ConfigurableEnvironment configurable) {
            for (PropertySource<?> source : configurable.getPropertySources()) {
                if (source instanceof EnumerablePropertySource<?> enumerable) {
                    for (String name : enumerable.getPropertyNames()) {
                        String canonical = canonical(name);
                        if (canonical.startsWith(PREFIX)) {
                            keys.add(canonical);
                        }
                    }
                }
            }
        }
        return keys;
    }

    /** {@code LANGCHAIN4J_OFFLOAD_CHAT_MODEL_TEMPERATURE} → {@code langchain4j.offload.chat.model.temperature}:
     *  good enough to recognize the prefix and to show the user which key they wrote. */
    private static String canonical(String name) {
        return name.indexOf('.') < 0 && name.indexOf('_') >= 0
                ? name.toLowerCase(Locale.ROOT).replace('_', '.') : name.toLowerCase(Locale.ROOT);
    }

    /** The sentence both the start-up warning and the failure report use. */
    static String unusedKeysSentence(Set<String> keys) {
        return "The offload4j starter is off because " + MODEL + " is not set, so " + String.join(", ", keys)
                + (keys.size() == 1 ? " has" : " have") + " no effect";
    }

    static final String SET_MODEL_ACTION = "Set " + MODEL + " to the path of a GGUF file or a Hugging Face model"
            + " (owner/repo:Q4_K_M or hf:owner/repo/file.gguf), or correct the key's spelling.";
}

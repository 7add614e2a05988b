package io.offload4j.engine;

/**
 * Receives a generation's progress on the engine's thread. Text pieces are always whole UTF-8
 * characters and never contain (a prefix of) a stop string that may still complete.
 */
public interface GenerationListener {

    GenerationListener NONE = new GenerationListener() {};

    /** The prompt has been processed (the KV cache holds it). */
    default void onPromptProcessed(int promptTokens, long nanos) {}

    /** A token was generated (its text, if any, follows through {@link #onText}). */
    default void onToken(int token) {}

    /** New text that is safe to show: never empty, never part of a stop string. */
    default void onText(String text) {}

    /** Polled once per token: true stops generation with {@link FinishReason#CANCELLED}. */
    default boolean isCancelled() {
        return false;
    }
}

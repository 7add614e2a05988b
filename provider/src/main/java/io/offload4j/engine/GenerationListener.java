package io.offload4j.engine;

/**
 * Receives a generation's progress on the engine's scheduler thread (never the thread that submitted the
 * request), one call at a time and in order. Text pieces are always whole UTF-8 characters and never contain
 * (a prefix of) a stop string that may still complete.
 *
 * <p>A method that throws ends that generation with the exception ({@link #onError} is called and the
 * {@link Generation} fails); the engine and the other sequences carry on. Calls should return quickly: every
 * running sequence waits while one listener works.
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

    /**
     * The generation ended normally (stop, length or cancellation); called before its {@link Generation}
     * completes. An exception thrown here is passed to {@link #onError} and otherwise ignored.
     */
    default void onComplete(GenerationResult result) {}

    /**
     * The generation failed: the forward pass threw, a listener method threw, or the engine was closed while
     * the request was queued or running. Called before its {@link Generation} fails; exceptions thrown here
     * are ignored.
     */
    default void onError(Throwable error) {}
}

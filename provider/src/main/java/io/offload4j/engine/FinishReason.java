package io.offload4j.engine;

/** Why generation ended. */
public enum FinishReason {
    /** The model produced an end-of-generation token, or a stop string/token was reached. */
    STOP,
    /** The maximum number of new tokens, or the end of the context, was reached. */
    LENGTH,
    /** The caller cancelled. */
    CANCELLED
}

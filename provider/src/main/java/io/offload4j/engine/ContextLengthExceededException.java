package io.offload4j.engine;

/** A request that cannot fit the engine's context; raised before any work is done. */
public class ContextLengthExceededException extends IllegalArgumentException {
    public ContextLengthExceededException(String message) {
        super(message);
    }
}

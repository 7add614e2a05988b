package io.offload4j.engine;

/**
 * Turns the JVM's errors that a request can run into into the engine's own messages (what happened, what to do),
 * so that a caller sees one clear line instead of an {@link OutOfMemoryError} or a raw {@link InternalError}. The
 * original stays attached as the cause. Everything else (a listener's exception, a backend's own message) is
 * passed on unchanged.
 */
final class EngineFailures {

    private EngineFailures() {
    }

    /** The error a request fails with when {@code error} ended it. */
    static Throwable describe(Throwable error, String modelName) {
        if (error instanceof OutOfMemoryError) {
            return new IllegalStateException("the Java heap ran out of memory while serving this request on "
                    + modelName + " (" + error.getMessage() + "); the engine keeps serving. Lower max sequences, the"
                    + " context length or the prefix cache, or give the JVM more heap (-Xmx)", error);
        }
        if (error instanceof InternalError) {
            // What the JVM throws when a page of a memory-mapped file can no longer be read (SIGBUS).
            return new IllegalStateException("reading the weights of " + modelName + " failed: the model file was"
                    + " truncated or replaced on disk while the engine had it mapped (" + error.getMessage() + ");"
                    + " put the complete file back and restart the engine", error);
        }
        return error;
    }
}

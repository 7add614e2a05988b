package io.offload4j.hub;

/**
 * A model could not be found or fetched: a missing local file, an unknown repository or file, a gated
 * repository without a token, a network failure that retries did not overcome, a download whose checksum
 * did not match, or offline mode with nothing cached. The message says what, where and what to do.
 */
public class ModelResolutionException extends RuntimeException {

    public ModelResolutionException(String message) {
        super(message);
    }

    public ModelResolutionException(String message, Throwable cause) {
        super(message, cause);
    }
}

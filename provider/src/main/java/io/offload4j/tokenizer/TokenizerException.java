package io.offload4j.tokenizer;

/**
 * A tokenizer cannot be built from the model's metadata (unknown tokenizer model or pre-tokenizer,
 * missing or malformed vocabulary keys). The message names the metadata key and what to do.
 */
public class TokenizerException extends IllegalArgumentException {

    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}

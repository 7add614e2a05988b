package io.offload4j.samples.ragweb;

/** A request the API refuses before calling the model; answered with status 400 and this message. */
class InvalidChatRequestException extends RuntimeException {

    InvalidChatRequestException(String message) {
        super(message);
    }
}

package io.offload4j.samples.ragweb;

import java.util.UUID;
import java.util.regex.Pattern;

/**
 * A question, in the conversation it belongs to.
 *
 * @param conversationId which conversation's memory to use; absent or blank starts a new one
 * @param message        the question
 */
public record ChatRequest(String conversationId, String message) {

    static final int MAX_MESSAGE_CHARS = 4000;
    private static final Pattern CONVERSATION_ID = Pattern.compile("[A-Za-z0-9_-]{1,64}");

    /**
     * This request with a conversation id (a new random one when absent).
     *
     * @throws InvalidChatRequestException for a missing or too long message or a malformed conversation id
     */
    ChatRequest validated() {
        if (message == null || message.isBlank()) {
            throw new InvalidChatRequestException("'message' is required: the question to answer");
        }
        if (message.length() > MAX_MESSAGE_CHARS) {
            throw new InvalidChatRequestException("'message' has " + message.length() + " characters; at most "
                    + MAX_MESSAGE_CHARS + " are accepted");
        }
        if (conversationId == null || conversationId.isBlank()) {
            return new ChatRequest(UUID.randomUUID().toString(), message.strip());
        }
        if (!CONVERSATION_ID.matcher(conversationId).matches()) {
            throw new InvalidChatRequestException("'conversationId' must be 1 to 64 letters, digits, '-' or '_'; was '"
                    + (conversationId.length() > 80 ? conversationId.substring(0, 80) + "…" : conversationId) + "'");
        }
        return new ChatRequest(conversationId, message.strip());
    }
}

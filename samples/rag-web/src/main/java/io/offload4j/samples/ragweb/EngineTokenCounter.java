package io.offload4j.samples.ragweb;

import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.TextContent;
import dev.langchain4j.data.message.ToolExecutionResultMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.TokenCountEstimator;
import io.offload4j.tokenizer.Tokenizer;

/**
 * Counts tokens with the loaded model's own tokenizer, so chat memory is trimmed by what the model's context really
 * holds. Each message is charged {@link #MESSAGE_OVERHEAD} tokens more than its text for the chat template's role
 * markers (ChatML, for one, adds {@code <|im_start|>user\n} and {@code <|im_end|>\n}: five tokens).
 */
final class EngineTokenCounter implements TokenCountEstimator {

    static final int MESSAGE_OVERHEAD = 8;

    private final Tokenizer tokenizer;

    EngineTokenCounter(Tokenizer tokenizer) {
        this.tokenizer = tokenizer;
    }

    @Override
    public int estimateTokenCountInText(String text) {
        return text == null || text.isEmpty() ? 0 : tokenizer.encode(text, false, false).length;
    }

    @Override
    public int estimateTokenCountInMessage(ChatMessage message) {
        return MESSAGE_OVERHEAD + estimateTokenCountInText(text(message));
    }

    @Override
    public int estimateTokenCountInMessages(Iterable<ChatMessage> messages) {
        int n = 0;
        for (ChatMessage m : messages) {
            n += estimateTokenCountInMessage(m);
        }
        return n;
    }

    private static String text(ChatMessage message) {
        return switch (message) {
            case SystemMessage s -> s.text();
            case UserMessage u -> {
                StringBuilder sb = new StringBuilder();
                u.contents().forEach(c -> {
                    if (c instanceof TextContent t) {
                        sb.append(t.text());
                    }
                });
                yield sb.toString();
            }
            case AiMessage a -> {
                StringBuilder sb = new StringBuilder(a.text() == null ? "" : a.text());
                a.toolExecutionRequests().forEach(r -> sb.append(r.name()).append(r.arguments()));
                yield sb.toString();
            }
            case ToolExecutionResultMessage r -> r.text();
            default -> message.toString();
        };
    }
}

package io.offload4j.cli;

import io.offload4j.chat.ChatPrompts;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Turns what the user typed into prompt tokens: raw text, or a conversation through the chat template. */
final class Prompts {

    record Turn(String role, String content) {}

    private final Tokenizer tokenizer;
    private final InferenceEngine engine;
    private ChatPrompts chatPrompts;

    Prompts(InferenceEngine engine) {
        this.engine = engine;
        this.tokenizer = engine.tokenizer();
    }

    /** Plain completion: the text as is, with BOS as the model's metadata says. */
    int[] raw(String text) {
        return tokenizer.encode(text, true, false);
    }

    /** A conversation rendered by the model's chat template, ending with the assistant's turn opened. */
    int[] chat(String system, List<Turn> turns) {
        List<Map<String, Object>> messages = new ArrayList<>();
        if (system != null) {
            messages.add(ChatPrompts.message("system", system));
        }
        for (Turn t : turns) {
            messages.add(ChatPrompts.message(t.role(), t.content()));
        }
        return chatPrompts().encode(messages, null, true);
    }

    /** Tokens that end the assistant's turn in chat mode (none extra in raw mode). */
    int[] stopTokens(boolean raw) {
        return raw ? new int[0] : chatPrompts().stopTokens();
    }

    /** End-of-turn texts that are not single tokens (chat mode only). */
    List<String> stopStrings(boolean raw) {
        return raw ? List.of() : chatPrompts().stopStrings();
    }

    /** The model's chat format, compiled on first use (raw mode never needs it). */
    private ChatPrompts chatPrompts() {
        if (chatPrompts == null) {
            chatPrompts = ChatPrompts.forModel(tokenizer, engine.tokenizerMetadata());
        }
        return chatPrompts;
    }
}

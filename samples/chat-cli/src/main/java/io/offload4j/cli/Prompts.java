package io.offload4j.cli;

import io.offload4j.engine.InferenceEngine;
import io.offload4j.tokenizer.Tokenizer;
import java.util.List;

/** Turns what the user typed into prompt tokens: raw text, or a conversation through the chat template. */
final class Prompts {

    record Turn(String role, String content) {}

    private final Tokenizer tokenizer;

    Prompts(InferenceEngine engine) {
        this.tokenizer = engine.tokenizer();
    }

    /** Plain completion: the text as is, with BOS as the model's metadata says. */
    int[] raw(String text) {
        return tokenizer.encode(text, true, false);
    }

    int[] chat(String system, List<Turn> turns) {
        throw new IllegalStateException("chat mode is not available yet; use --raw");
    }

    int[] stopTokens(boolean raw) {
        return new int[0];
    }
}

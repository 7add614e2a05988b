package io.offload4j.engine;

import io.offload4j.engine.grammar.Grammar;
import java.util.List;
import java.util.Objects;

/**
 * One generation: the prompt (already tokenized), how to sample and when to stop.
 *
 * @param promptTokens       the prompt, including BOS and chat-template tokens
 * @param maxTokens          the most new tokens; 0 or negative means "until the context is full"
 * @param stopStrings        generation stops before the first occurrence of any of these in the new text
 * @param stopTokens         extra token ids that end generation (the model's end-of-generation tokens always do)
 * @param grammar            when not null, the reply must be a sentence of this grammar: tokens that would leave it
 *                           are masked before sampling, and as the token budget ends the shortest completion is
 *                           forced (see {@link io.offload4j.engine.grammar.GrammarMatcher})
 */
public record GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stopStrings,
                                int[] stopTokens, Grammar grammar) {

    public GenerationRequest(int[] promptTokens, int maxTokens, SamplingParams sampling, List<String> stopStrings,
                             int[] stopTokens) {
        this(promptTokens, maxTokens, sampling, stopStrings, stopTokens, null);
    }

    public GenerationRequest {
        Objects.requireNonNull(promptTokens, "promptTokens");
        Objects.requireNonNull(sampling, "sampling");
        promptTokens = promptTokens.clone();
        stopStrings = stopStrings == null ? List.of() : List.copyOf(stopStrings);
        for (String s : stopStrings) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("stop strings must not be empty");
            }
        }
        stopTokens = stopTokens == null ? new int[0] : stopTokens.clone();
        if (promptTokens.length == 0) {
            throw new IllegalArgumentException("the prompt is empty: at least one token is needed to start generation");
        }
    }

    public static GenerationRequest of(int[] promptTokens, int maxTokens, SamplingParams sampling) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, List.of(), null);
    }

    /** This request with the reply constrained to {@code grammar} (null: unconstrained). */
    public GenerationRequest withGrammar(Grammar grammar) {
        return new GenerationRequest(promptTokens, maxTokens, sampling, stopStrings, stopTokens, grammar);
    }

    @Override
    public int[] promptTokens() {
        return promptTokens.clone();
    }

    @Override
    public int[] stopTokens() {
        return stopTokens.clone();
    }

    int promptLength() {
        return promptTokens.length;
    }

    int[] promptTokensUnsafe() {
        return promptTokens;
    }

    int[] stopTokensUnsafe() {
        return stopTokens;
    }
}

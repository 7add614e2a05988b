package io.offload4j.engine;

/**
 * What a generation produced.
 *
 * @param tokens        generated token ids (including a final end-of-generation token, if one ended it)
 * @param text          the generated text, without end-of-generation tokens and without the stop string
 * @param prefillNanos  time to process the prompt
 * @param decodeNanos   time to generate the tokens after the first
 */
public record GenerationResult(int[] promptTokens, int[] tokens, String text, FinishReason finishReason,
                               long prefillNanos, long decodeNanos) {

    public int promptTokenCount() {
        return promptTokens.length;
    }

    public int generatedTokenCount() {
        return tokens.length;
    }

    /** Prompt tokens per second of prefill. */
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptTokens.length * 1e9 / prefillNanos;
    }

    /** Generated tokens per second, counting from the first generated token (which prefill produced). */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 || tokens.length < 2 ? 0 : (tokens.length - 1) * 1e9 / decodeNanos;
    }
}

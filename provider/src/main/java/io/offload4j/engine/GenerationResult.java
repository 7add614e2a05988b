package io.offload4j.engine;

/**
 * What a generation produced.
 *
 * @param tokens             generated token ids (including a final end-of-generation token, if one ended it)
 * @param text               the generated text, without end-of-generation tokens and without the stop string
 * @param prefillNanos       time to process the prompt (the part not reused from the prefix cache)
 * @param decodeNanos        time to generate the tokens after the first
 * @param cachedPromptTokens prompt tokens whose keys and values were not computed: reused from an earlier sequence
 *                           (the prefix cache) or copied from one running at the same time
 * @param queueNanos         time the request waited for the scheduler to admit it
 */
public record GenerationResult(int[] promptTokens, int[] tokens, String text, FinishReason finishReason,
                               long prefillNanos, long decodeNanos, int cachedPromptTokens, long queueNanos) {

    public GenerationResult(int[] promptTokens, int[] tokens, String text, FinishReason finishReason,
                            long prefillNanos, long decodeNanos) {
        this(promptTokens, tokens, text, finishReason, prefillNanos, decodeNanos, 0, 0);
    }

    public int promptTokenCount() {
        return promptTokens.length;
    }

    public int generatedTokenCount() {
        return tokens.length;
    }

    /** Prompt tokens per second of prefill (counting only the tokens that were computed). */
    public double prefillTokensPerSecond() {
        int computed = promptTokens.length - cachedPromptTokens;
        return prefillNanos == 0 ? 0 : computed * 1e9 / prefillNanos;
    }

    /** Generated tokens per second, counting from the first generated token (which prefill produced). */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 || tokens.length < 2 ? 0 : (tokens.length - 1) * 1e9 / decodeNanos;
    }

    /** Time from submission to the first generated token: queueing plus prefill. */
    public long timeToFirstTokenNanos() {
        return queueNanos + prefillNanos;
    }
}

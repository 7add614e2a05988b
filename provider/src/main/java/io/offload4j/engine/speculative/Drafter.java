package io.offload4j.engine.speculative;

/**
 * Proposes the tokens that probably follow a sequence, for the target model to verify in one pass (speculative
 * decoding). One drafter serves one sequence (a {@link DrafterFactory} makes one per sequence), on the engine's thread;
 * it is called before each decode step of its sequence and allocates nothing there.
 *
 * <p>Drafts are proposals, never output: the engine accepts a drafted token only where the target model would have
 * produced it (greedy), or with the speculative sampling rule (sampling), so a drafter changes the speed, never the
 * text's distribution. A drafter here proposes deterministically (its proposal distribution q is a point mass), which
 * the rule handles as a special case.
 */
public interface Drafter extends AutoCloseable {

    /**
     * Proposes up to {@code max} tokens to follow {@code history[0 .. length)} (the prompt and the tokens generated so
     * far), written to {@code out[0 ..)}; returns how many (0: nothing worth proposing; the step decodes one token as
     * usual). Entries of {@code history} from the previous call's {@code length} on may differ from what was drafted
     * then (those drafts were rejected); earlier ones never change.
     */
    int draft(int[] history, int length, int max, int[] out);

    /** Frees what the drafter holds for its sequence (a draft model's KV cache). */
    @Override
    default void close() {}
}

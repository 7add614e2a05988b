package io.offload4j.engine.speculative;

/**
 * Makes the {@link Drafter} of each sequence: {@link PromptLookupDrafter} (no second model), {@link DraftModel} (a
 * small model with the target's vocabulary), or one of the application's own. Set it with
 * {@link SpeculativeOptions#withDrafter}.
 */
@FunctionalInterface
public interface DrafterFactory extends AutoCloseable {

    /** The drafter of a new sequence whose tokens occupy at most {@code capacity} positions. */
    Drafter open(int capacity);

    /** For logs: what drafts. */
    default String description() {
        return getClass().getSimpleName();
    }

    /** Frees what the factory holds (a draft model). */
    @Override
    default void close() {}
}

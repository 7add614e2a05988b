package io.offload4j.engine.speculative;

import java.nio.file.Path;

/**
 * Speculative decoding: which drafter proposes tokens, and how many at most per step. Off by default
 * ({@link #OFF}). At most one drafter: prompt lookup, a draft model, or the application's own.
 *
 * @param promptLookup   draft by prompt lookup ({@link PromptLookupDrafter})
 * @param minNgram       prompt lookup: the shortest n-gram matched
 * @param maxNgram       prompt lookup: the longest n-gram matched (tried first)
 * @param maxDraftTokens the most tokens a step drafts (the adaptive length stays at or below it); a verification
 *                       pass checks this many plus one, and is capped by the engine's prompt chunk
 * @param draftModel     a draft model file or directory with the target's vocabulary ({@link DraftModel}), or null
 * @param drafter        the application's own drafter, or null
 */
public record SpeculativeOptions(boolean promptLookup, int minNgram, int maxNgram, int maxDraftTokens, Path draftModel,
                                 DrafterFactory drafter) {

    public static final int DEFAULT_MIN_NGRAM = 1;
    public static final int DEFAULT_MAX_NGRAM = 3;
    public static final int DEFAULT_MAX_DRAFT_TOKENS = 8;
    /** The most draft tokens a step may check (a verification pass of 64 rows). */
    public static final int MAX_DRAFT_TOKENS = 63;

    /** No drafting: every decode step produces one token. */
    public static final SpeculativeOptions OFF = new SpeculativeOptions(false, DEFAULT_MIN_NGRAM, DEFAULT_MAX_NGRAM,
            DEFAULT_MAX_DRAFT_TOKENS, null, null);

    public SpeculativeOptions {
        if (minNgram < 1 || maxNgram < minNgram) {
            throw new IllegalArgumentException("prompt lookup n-gram sizes must satisfy 1 <= min <= max, were min "
                    + minNgram + " and max " + maxNgram);
        }
        if (maxDraftTokens < 1 || maxDraftTokens > MAX_DRAFT_TOKENS) {
            throw new IllegalArgumentException("max draft tokens must be 1.." + MAX_DRAFT_TOKENS + ", was "
                    + maxDraftTokens);
        }
        int drafters = (promptLookup ? 1 : 0) + (draftModel != null ? 1 : 0) + (drafter != null ? 1 : 0);
        if (drafters > 1) {
            throw new IllegalArgumentException("speculative decoding takes one drafter, but "
                    + (promptLookup ? "prompt lookup, " : "") + (draftModel != null ? "a draft model (" + draftModel
                    + "), " : "") + (drafter != null ? "a custom drafter, " : "")
                    + "were set; choose one");
        }
    }

    /** Whether a drafter is set. */
    public boolean enabled() {
        return promptLookup || draftModel != null || drafter != null;
    }

    /** Prompt lookup with the default n-gram sizes and draft length. */
    public static SpeculativeOptions promptLookupDefaults() {
        return OFF.withPromptLookup(true);
    }

    /** A draft model with the default draft length. */
    public static SpeculativeOptions draftModel(Path path) {
        return OFF.withDraftModel(path);
    }

    public SpeculativeOptions withPromptLookup(boolean on) {
        return new SpeculativeOptions(on, minNgram, maxNgram, maxDraftTokens, draftModel, drafter);
    }

    public SpeculativeOptions withNgramSizes(int min, int max) {
        return new SpeculativeOptions(promptLookup, min, max, maxDraftTokens, draftModel, drafter);
    }

    public SpeculativeOptions withMaxDraftTokens(int n) {
        return new SpeculativeOptions(promptLookup, minNgram, maxNgram, n, draftModel, drafter);
    }

    public SpeculativeOptions withDraftModel(Path path) {
        return new SpeculativeOptions(promptLookup, minNgram, maxNgram, maxDraftTokens, path, drafter);
    }

    public SpeculativeOptions withDrafter(DrafterFactory factory) {
        return new SpeculativeOptions(promptLookup, minNgram, maxNgram, maxDraftTokens, draftModel, factory);
    }
}

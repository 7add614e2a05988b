package io.offload4j.engine;

/**
 * A snapshot of the scheduler and the prefix cache.
 *
 * @param queued               requests waiting for admission
 * @param running              sequences being advanced
 * @param runningKvCacheBytes  bytes counted for the running sequences' KV caches: their capacity, or on the CPU with an
 *                             automatic number of sequences the positions reserved for them (a CPU cache holds at most
 *                             that: it takes pages as it writes them; the memory report says what they hold)
 * @param prefixCacheEntries   finished sequences whose KV caches are kept for reuse
 * @param prefixCacheBytes     bytes those KV caches hold
 * @param prefixHits           admissions that continued a kept KV cache
 * @param prefixMisses         admissions (with prefix reuse on) that found none worth taking
 * @param reusedPromptTokens   prompt tokens not computed again thanks to reuse, in total
 * @param prefixEvictions      kept KV caches freed to make room
 * @param completed            requests that have ended (normally, cancelled or failed)
 * @param promptTokens         prompt tokens computed (prefilled), in total; reused ones are not counted
 * @param generatedTokens      tokens sampled, in total
 * @param decodeTokens         tokens sampled by decode steps (the first token of a request comes from its prefill)
 * @param prefillNanos         time spent in prefill steps, in total
 * @param decodeNanos          time spent in decode steps, in total (drafting and verification included)
 * @param draftedTokens        speculative decoding: tokens drafted and checked by verification passes
 * @param acceptedDraftTokens  speculative decoding: drafted tokens the model accepted
 * @param verifications        speculative decoding: verification passes (one sequence's drafts checked in one pass)
 * @param targetPasses         passes of the model that decoding sequences took: verifications, and one per sequence
 *                             and decode step without drafts (a batched step counts once per sequence)
 * @param copiedPromptTokens   prompt tokens whose keys and values were copied from another running sequence that had
 *                             computed the same prefix, in total (not in {@code reusedPromptTokens}, not computed)
 */
public record EngineStats(int queued, int running, long runningKvCacheBytes, int prefixCacheEntries,
                          long prefixCacheBytes, long prefixHits, long prefixMisses, long reusedPromptTokens,
                          long prefixEvictions, long completed, long promptTokens, long generatedTokens,
                          long decodeTokens, long prefillNanos, long decodeNanos, long draftedTokens,
                          long acceptedDraftTokens, long verifications, long targetPasses,
                          long copiedPromptTokens) {

    /** Prompt tokens per second of prefill time so far, 0 before any prefill. */
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptTokens * 1e9 / prefillNanos;
    }

    /** Tokens per second of decode-step time so far, 0 before any decode step. */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 ? 0 : decodeTokens * 1e9 / decodeNanos;
    }

    /** Speculative decoding: the share of drafted tokens accepted, 0 before any verification. */
    public double acceptanceRate() {
        return draftedTokens == 0 ? 0 : (double) acceptedDraftTokens / draftedTokens;
    }

    /** Decode tokens per model pass of a sequence: 1 without drafting, up to k + 1 with k tokens drafted. */
    public double tokensPerTargetPass() {
        return targetPasses == 0 ? 0 : (double) decodeTokens / targetPasses;
    }
}

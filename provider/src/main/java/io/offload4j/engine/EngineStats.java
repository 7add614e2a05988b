package io.offload4j.engine;

/**
 * A snapshot of the scheduler and the prefix cache.
 *
 * @param queued               requests waiting for admission
 * @param running              sequences being advanced
 * @param runningKvCacheBytes  bytes of the KV caches the running sequences hold
 * @param prefixCacheEntries   finished sequences whose KV caches are kept for reuse
 * @param prefixCacheBytes     bytes those KV caches hold
 * @param prefixHits           admissions that continued a kept KV cache
 * @param prefixMisses         admissions (with prefix reuse on) that found none worth taking
 * @param reusedPromptTokens   prompt tokens not computed again thanks to reuse, in total
 * @param prefixEvictions      kept KV caches freed to make room
 * @param completed            requests that have ended (normally, cancelled or failed)
 */
public record EngineStats(int queued, int running, long runningKvCacheBytes, int prefixCacheEntries,
                          long prefixCacheBytes, long prefixHits, long prefixMisses, long reusedPromptTokens,
                          long prefixEvictions, long completed) {
}

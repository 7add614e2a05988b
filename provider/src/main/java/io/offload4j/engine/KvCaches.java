package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;

/**
 * A kept conversation's KV cache made to fit its next turn. Caches hold the positions their request can reach (prompt
 * and max tokens), not the whole context, so a next turn may need more than the kept cache holds: its prefix is then
 * copied into a new cache of the needed size ({@link KvCache#copyPrefix}: device to device on a GPU, array copies on
 * the CPU), which costs far less than computing it again, and the old one is freed.
 */
final class KvCaches {

    private KvCaches() {}

    /**
     * {@code reuse} (or null) with a cache of at least {@code capacity} positions. Where the kept cache is smaller and
     * cannot be copied from (a sliding-window model whose small cache keeps every position where the larger one keeps
     * a ring), the request computes its prompt afresh in the larger cache: length 0 (the prefix cache has counted the
     * hit). The kept cache is freed whenever it is not returned.
     */
    static PrefixCache.Reuse fitted(PrefixCache.Reuse reuse, int capacity, ForwardPass pass) {
        if (reuse == null || reuse.cache().capacity() >= capacity) {
            return reuse;
        }
        KvCache kept = reuse.cache();
        try (kept) {
            KvCache larger = pass.newKvCache(capacity);
            try {
                if (!larger.canCopyPrefix(kept)) {
                    return new PrefixCache.Reuse(larger, 0);
                }
                larger.copyPrefix(kept, reuse.length());
                return new PrefixCache.Reuse(larger, reuse.length());
            } catch (RuntimeException | Error e) {
                larger.close();
                throw e;
            }
        }
    }
}

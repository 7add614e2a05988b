package io.offload4j.engine;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import io.offload4j.backend.KvCache;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;

/**
 * KV caches of finished sequences, kept so that a new request that starts with the same tokens continues from
 * them instead of computing its prompt again (a conversation's next turn starts with the whole previous turn).
 *
 * <p>Entries live in a Caffeine cache bounded by weight, the weigher being the bytes the KV cache holds (in KiB), with a
 * removal listener that closes (frees) a KV cache when its entry is evicted or invalidated. A KV cache is never
 * shared: {@link #take} removes the entry it returns, so the sequence that continues it owns it exclusively, and
 * gives it back with {@link #put} when it ends (with its new, longer token history).
 *
 * <p>Lookup compares the prompt with the token history of every entry and takes the longest common prefix
 * (entries are few: each is a whole sequence's KV cache). An entry is taken only when the shared prefix is worth
 * more than what taking it destroys: the whole prompt of the request that produced it (the new request continues
 * that conversation, even if its reply was tokenized differently this time), at least half of the entry's tokens,
 * or at least {@link #MIN_SHARED} tokens; a request that shares only a BOS token or a system prompt with every
 * entry allocates a fresh cache instead. An entry whose KV cache keeps sliding-window blocks as a ring is taken only
 * when at most {@link KvCache#maxRewind()} of its positions lie past the shared prefix (the ring still holds the
 * window before it): a conversation's next turn qualifies, a prompt that branches off far back does not.
 *
 * <p>A prompt that shares less with an entry than is worth taking it (a system prompt and instructions) copies the
 * shared positions from it instead ({@link #lend}, for {@link LivePrefixCopy}); the entry stays, counted as just used.
 *
 * <p>Victims are chosen by recency before an insertion could exceed the budget (least recently finished or used
 * first), so Caffeine's own size eviction is only a hard bound. Caffeine's W-TinyLFU admission would otherwise
 * decide between the new entry and the victim by how often each key was seen; every sequence's key is new, so
 * all entries tie and the newest would be the one dropped, i.e. a new conversation's first turn would never be
 * kept once the cache is full.
 *
 * <p>Only the engine's scheduler thread calls {@link #take}, {@link #put} and {@link #clear}; the counters may be
 * read from any thread.
 */
final class PrefixCache {

    /** Shared prefix length that always justifies taking an entry. */
    static final int MIN_SHARED = 256;

    /** A reusable KV cache and the tokens whose keys and values it holds at positions 0..length-1. */
    static final class Entry {
        final long key;
        final int[] tokens;
        final int promptLength;
        final KvCache cache;
        final int weightKiB;
        long lastUsed;
        final AtomicBoolean taken = new AtomicBoolean();

        Entry(long key, int[] tokens, int promptLength, KvCache cache, int weightKiB, long lastUsed) {
            this.key = key;
            this.tokens = tokens;
            this.promptLength = promptLength;
            this.cache = cache;
            this.weightKiB = weightKiB;
            this.lastUsed = lastUsed;
        }
    }

    /** What {@link #take} found: a KV cache whose first {@code length} positions match the prompt. */
    record Reuse(KvCache cache, int length) {}

    private final long budgetKiB;
    private final Cache<Long, Entry> entries;
    private final AtomicLong weightKiB = new AtomicLong();
    private final AtomicLong hits = new AtomicLong();
    private final AtomicLong misses = new AtomicLong();
    private final AtomicLong reusedTokens = new AtomicLong();
    private final AtomicLong evictions = new AtomicLong();
    private long nextKey;
    private long clock;

    /** Positions a sequence may have written past its cached tokens: see {@link #PrefixCache(long, int)}. */
    private final int rowsPastCached;

    PrefixCache(long budgetBytes) {
        this(budgetBytes, 0);
    }

    /**
     * @param rowsPastCached rows a sequence may have written past the tokens it hands back (with speculative
     *                       decoding, its last verification's rejected drafts): in a sliding-window ring those
     *                       overwrite older rows too, so an entry is reusable only where the ring's surplus covers
     *                       them as well
     */
    PrefixCache(long budgetBytes, int rowsPastCached) {
        this.rowsPastCached = rowsPastCached;
        this.budgetKiB = budgetBytes / 1024;
        this.entries = Caffeine.newBuilder()
                .maximumWeight(Math.max(1, budgetKiB))
                .weigher((Long key, Entry e) -> e.weightKiB)
                .executor(Runnable::run) // evictions and their removal listener run on the scheduler thread
                .removalListener(this::removed)
                .recordStats()
                .build();
    }

    boolean enabled() {
        return budgetKiB > 0;
    }

    private void removed(Long key, Entry e, RemovalCause cause) {
        if (e == null) {
            return;
        }
        weightKiB.addAndGet(-e.weightKiB);
        if (e.taken.compareAndSet(false, true)) {
            e.cache.close(); // evicted or invalidated: nobody continues it
        }
    }

    /**
     * Takes the entry sharing the longest prefix with {@code prompt} (at most {@code prompt.length - 1} tokens:
     * the last prompt token is always computed, it yields the first logits); null when none is worth taking. Its KV
     * cache may hold fewer positions than the new request needs: the caller then copies the prefix into a larger one.
     */
    Reuse take(int[] prompt) {
        if (!enabled()) {
            return null;
        }
        Entry best = null;
        int bestShared = 0;
        int limit = prompt.length - 1;
        for (Entry e : entries.asMap().values()) {
            int shared = commonPrefix(e.tokens, prompt, limit);
            if (!holdsPrefix(e.cache, e.tokens.length, shared)) {
                continue; // reusing it would attend to wrong keys: compute afresh
            }
            if (shared > bestShared) {
                best = e;
                bestShared = shared;
            }
        }
        if (best == null || (bestShared < best.promptLength && bestShared * 2L < best.tokens.length
                && bestShared < MIN_SHARED) || !best.taken.compareAndSet(false, true)) {
            misses.incrementAndGet();
            return null;
        }
        entries.asMap().remove(best.key, best);
        hits.incrementAndGet();
        reusedTokens.addAndGet(bestShared);
        return new Reuse(best.cache, bestShared);
    }

    /**
     * The kept entry sharing the longest prefix with {@code prompt} (more than {@code atLeast} tokens, at most
     * {@code prompt.length - 1}) whose KV cache {@code target} can copy from ({@link KvCache#copyPrefix}), or null. The
     * entry is not taken: it stays kept for the conversation it belongs to, and counts as just used. For a prompt that
     * shares less with it than is worth taking it (a system prompt and instructions), copying those positions still
     * beats computing them ({@link LivePrefixCopy}).
     */
    Reuse lend(int[] prompt, int atLeast, KvCache target) {
        if (!enabled()) {
            return null;
        }
        Entry best = null;
        int bestShared = atLeast;
        int limit = prompt.length - 1;
        for (Entry e : entries.asMap().values()) {
            int shared = commonPrefix(e.tokens, prompt, limit);
            if (shared > bestShared && holdsPrefix(e.cache, e.tokens.length, shared) && !e.taken.get()
                    && target.canCopyPrefix(e.cache)) {
                best = e;
                bestShared = shared;
            }
        }
        if (best == null) {
            return null;
        }
        best.lastUsed = ++clock;
        return new Reuse(best.cache, bestShared);
    }

    /**
     * Whether {@code cache}, holding the first {@code cached} positions of a sequence, still holds what its first
     * {@code shared} need to be continued: always, except in a sliding-window ring, whose rows written after them
     * (and the rows of rejected drafts past those, {@code rowsPastCached}) overwrite the window before them once
     * they exceed its surplus ({@link KvCache#maxRewind()}).
     */
    boolean holdsPrefix(KvCache cache, int cached, int shared) {
        return (long) cached - shared + rowsPastCached <= cache.maxRewind();
    }

    /**
     * Keeps {@code cache}, which holds the keys and values of {@code tokens} (a copy is not made: the caller
     * hands the array over), the first {@code promptLength} of them the request's prompt. Closes it instead when
     * it is larger than the whole budget.
     */
    void put(int[] tokens, int promptLength, KvCache cache) {
        long bytes = cache.heldBytes(); // a kept cache is not written: what it holds now is what it keeps
        long kib = (bytes + 1023) / 1024;
        if (!enabled() || tokens.length == 0 || kib > budgetKiB || kib > Integer.MAX_VALUE) {
            cache.close();
            return;
        }
        while (weightKiB.get() + kib > budgetKiB) {
            if (!dropOldest()) { // the least recently kept first, until the new one fits
                break;
            }
        }
        Entry e = new Entry(nextKey++, tokens, promptLength, cache, (int) kib, ++clock);
        weightKiB.addAndGet(kib);
        entries.put(e.key, e);
    }

    /**
     * Frees the least recently kept KV cache (to make room in device memory for a new request); false when none is
     * kept.
     */
    boolean dropOldest() {
        Entry oldest = null;
        for (Entry e : entries.asMap().values()) {
            if (oldest == null || e.lastUsed < oldest.lastUsed) {
                oldest = e;
            }
        }
        if (oldest == null) {
            return false;
        }
        entries.invalidate(oldest.key); // the removal listener closes it
        evictions.incrementAndGet();
        return true;
    }

    /** Frees every kept KV cache. */
    void clear() {
        entries.invalidateAll();
        entries.cleanUp();
    }

    int size() {
        return (int) entries.estimatedSize();
    }

    long bytes() {
        return weightKiB.get() * 1024;
    }

    long hits() {
        return hits.get();
    }

    long misses() {
        return misses.get();
    }

    long reusedTokens() {
        return reusedTokens.get();
    }

    long evictions() {
        return evictions.get() + entries.stats().evictionCount();
    }

    static int commonPrefix(int[] a, int[] b, int limit) {
        int n = Math.min(Math.min(a.length, b.length), limit);
        int i = 0;
        while (i < n && a[i] == b[i]) {
            i++;
        }
        return i;
    }
}

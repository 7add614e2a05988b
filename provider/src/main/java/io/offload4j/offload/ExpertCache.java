package io.offload4j.offload;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * The GPU tier of a mixture of experts' experts: a byte-weighted Caffeine cache whose W-TinyLFU admission keeps the
 * most frequently routed experts resident (an expert displaces another only when its estimated frequency is higher,
 * so a burst of one-off experts does not flush the hot set — what a recency cache would do). Unlike the dense blocks'
 * {@link ResidentBlockCache}, whose contents the planner fixes, this cache decides by itself: the router's choices
 * are skewed and change with the text.
 *
 * <p>The per-step path reads an array indexed by expert ({@code block * experts + expert}) kept in step with the
 * cache, and tells Caffeine about each hit so the frequency sketch learns; keys are boxed once, at construction.
 * Hits, misses, evictions and rejected admissions are counted per block.
 *
 * @param <E> the device-side copy of an expert
 */
public final class ExpertCache<E> implements AutoCloseable {

    private final int experts;
    private final long[] bytes;
    private final Integer[] keys;
    private final Object[] byId;
    private final Cache<Integer, E> cache;
    private final long[] hits;
    private final long[] misses;
    private final long[] evictions;
    private final long[] rejections;
    /** The expert being inserted: if Caffeine evicts it at once, admission rejected it. */
    private int inserting = -1;

    /**
     * @param blocks   blocks of the model (sparse or not: ids are {@code block * experts + expert})
     * @param experts  experts per block
     * @param bytes    device bytes of each expert, by id
     * @param budget   device bytes the cached experts may hold
     * @param releaser frees an expert's device memory once no in-flight kernel reads it
     */
    public ExpertCache(int blocks, int experts, long[] bytes, long budget, Consumer<E> releaser) {
        if (bytes.length != (long) blocks * experts) {
            throw new IllegalArgumentException(bytes.length + " expert sizes for " + blocks + " blocks of " + experts
                    + " experts");
        }
        Objects.requireNonNull(releaser);
        this.experts = experts;
        this.bytes = bytes.clone();
        this.keys = new Integer[bytes.length];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = i;
        }
        this.byId = new Object[bytes.length];
        this.hits = new long[blocks];
        this.misses = new long[blocks];
        this.evictions = new long[blocks];
        this.rejections = new long[blocks];
        this.cache = Caffeine.newBuilder()
                .maximumWeight(kib(budget))
                .weigher((Integer id, E e) -> (int) Math.min(Integer.MAX_VALUE, Math.max(1, kib(this.bytes[id]))))
                .executor(Runnable::run) // evict and release on the caller's thread, deterministically ordered
                .removalListener((Integer id, E e, RemovalCause cause) -> {
                    if (id == null) {
                        return;
                    }
                    if (byId[id] == e) {
                        byId[id] = null;
                    }
                    if (cause.wasEvicted()) {
                        if (id == inserting) {
                            rejections[id / experts]++;
                        } else {
                            evictions[id / experts]++;
                        }
                    }
                    if (e != null && cause != RemovalCause.REPLACED) {
                        releaser.accept(e);
                    }
                })
                .build();
    }

    /** The resident copy of an expert, or null (a miss); counted either way. */
    @SuppressWarnings("unchecked")
    public E lookup(int block, int expert) {
        int id = block * experts + expert;
        E e = (E) byId[id];
        if (e != null) {
            hits[block]++;
            cache.getIfPresent(keys[id]); // the access feeds W-TinyLFU's frequency sketch and the eviction order
        } else {
            misses[block]++;
        }
        return e;
    }

    /** Whether an expert is resident, without counting an access or telling Caffeine (a prefetch's question). */
    public boolean contains(int block, int expert) {
        return byId[block * experts + expert] != null;
    }

    /**
     * Counts {@code n} more hits of block {@code block} without consulting the cache: later tokens of a step whose
     * first use of an expert was looked up (and, on a miss, copied) find it on the device.
     */
    public void recordHits(int block, int n) {
        hits[block] += n;
    }

    /**
     * Offers an expert just copied to the device. Returns whether the cache kept it: admission may reject it (it is
     * then released at once, after the step that copied it has used it, as the releaser's contract says).
     */
    public boolean offer(int block, int expert, E copy) {
        int id = block * experts + expert;
        byId[id] = copy;
        inserting = id;
        try {
            cache.put(keys[id], copy);
            cache.cleanUp();
        } finally {
            inserting = -1;
        }
        return byId[id] == copy;
    }

    /**
     * Changes the device bytes the cached experts may hold. Shrinking evicts at once, on the caller's thread, by the
     * cache's own order (the least valuable first by W-TinyLFU's estimate), each through the releaser; growing lets
     * later admissions fill the room.
     */
    public void capacity(long budget) {
        if (budget <= 0) {
            throw new IllegalArgumentException("expert cache capacity must be positive: " + budget);
        }
        cache.policy().eviction().orElseThrow().setMaximum(kib(budget));
        cache.cleanUp();
    }

    /** How many experts are cached. */
    public int residentCount() {
        int n = 0;
        for (Object e : byId) {
            n += e != null ? 1 : 0;
        }
        return n;
    }

    /** Device bytes of the cached experts. */
    public long residentBytes() {
        long n = 0;
        for (int i = 0; i < byId.length; i++) {
            n += byId[i] != null ? bytes[i] : 0;
        }
        return n;
    }

    /** Per block: hits, misses, evictions (an expert displaced), rejections (a copy admission refused). */
    public record Stats(long[] hits, long[] misses, long[] evictions, long[] rejections) {

        public double hitRate() {
            long h = 0;
            long all = 0;
            for (int b = 0; b < hits.length; b++) {
                h += hits[b];
                all += hits[b] + misses[b];
            }
            return all == 0 ? 0 : (double) h / all;
        }
    }

    /** A snapshot of the counters. */
    public Stats stats() {
        return new Stats(hits.clone(), misses.clone(), evictions.clone(), rejections.clone());
    }

    private static long kib(long bytes) {
        return (bytes + 1023) >>> 10;
    }

    /** Releases every cached expert. */
    @Override
    public void close() {
        cache.invalidateAll();
        cache.cleanUp();
    }
}

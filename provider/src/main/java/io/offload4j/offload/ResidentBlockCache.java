package io.offload4j.offload;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import com.github.benmanes.caffeine.cache.RemovalCause;
import com.github.benmanes.caffeine.cache.stats.CacheStats;
import com.github.benmanes.caffeine.cache.stats.ConcurrentStatsCounter;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.ToLongFunction;

/**
 * The GPU tier: units of weights resident in device memory, in a Caffeine cache bounded by bytes.
 *
 * <p>Caffeine owns the accounting and the lifetime: every unit is weighed in device bytes against the budget, and
 * when one leaves (evicted because the budget shrank, or invalidated at close) the removal listener hands it to a
 * releaser that frees its memory once the last kernel reading it has completed. The planner fills the cache with the
 * pinned set, which fits by construction, so the layer cycle never evicts (see {@link PlacementPlanner} for why a
 * recency cache must not decide here).
 *
 * <p>The per-step path does not look anything up in the cache: it reads an array indexed by unit, kept in step with
 * the cache by {@link #put} and the removal listener, and records each access as a hit (resident) or miss (streamed
 * or computed elsewhere) in the cache's own statistics counter, so {@link #stats()} is Caffeine's {@code CacheStats}.
 *
 * @param <B> the device-side representation of a unit
 */
public final class ResidentBlockCache<B> implements AutoCloseable {

    private final Cache<Integer, B> cache;
    private final ConcurrentStatsCounter counter = new ConcurrentStatsCounter();
    private final Object[] byUnit;
    private final ToLongFunction<B> weigher;

    /**
     * @param units    how many units the model has (cache keys are 0..units-1)
     * @param budget   device bytes the resident units may hold
     * @param weigher  device bytes of a unit
     * @param releaser frees a unit's device memory once no in-flight kernel reads it
     */
    public ResidentBlockCache(int units, long budget, ToLongFunction<B> weigher, Consumer<B> releaser) {
        this.byUnit = new Object[units];
        this.weigher = Objects.requireNonNull(weigher);
        Objects.requireNonNull(releaser);
        this.cache = Caffeine.newBuilder()
                .maximumWeight(kib(budget))
                .weigher((Integer unit, B block) -> (int) Math.min(Integer.MAX_VALUE, kib(weigher.applyAsLong(block))))
                .executor(Runnable::run) // evict and release on the caller's thread, deterministically
                .recordStats(() -> counter)
                .removalListener((Integer unit, B block, RemovalCause cause) -> {
                    if (unit != null && byUnit[unit] == block) {
                        byUnit[unit] = null;
                    }
                    if (block != null && cause != RemovalCause.REPLACED) {
                        releaser.accept(block);
                    }
                })
                .build();
    }

    /** Makes {@code block} the resident copy of {@code unit}; it counts as a load. */
    public void put(int unit, B block) {
        long start = System.nanoTime();
        byUnit[unit] = block;
        cache.put(unit, block);
        counter.recordLoadSuccess(System.nanoTime() - start);
        cache.cleanUp();
    }

    /** The resident copy of {@code unit}, or null; no statistics recorded (for set-up and reports). */
    @SuppressWarnings("unchecked")
    public B peek(int unit) {
        return (B) byUnit[unit];
    }

    /**
     * The resident copy of {@code unit} for a step, or null when it is not resident; counts a hit or a miss.
     * No lookup, no allocation.
     */
    @SuppressWarnings("unchecked")
    public B access(int unit) {
        B b = (B) byUnit[unit];
        if (b != null) {
            counter.recordHits(1);
        } else {
            counter.recordMisses(1);
        }
        return b;
    }

    /**
     * Counts {@code n} accesses as hits without touching the units: for a step replayed as a whole (a CUDA graph)
     * after every unit was found resident when it was recorded.
     */
    public void recordHits(int n) {
        counter.recordHits(n);
    }

    /** Device bytes of the resident units. */
    public long residentBytes() {
        long sum = 0;
        for (Object b : byUnit) {
            if (b != null) {
                @SuppressWarnings("unchecked")
                B block = (B) b;
                sum += weigher.applyAsLong(block);
            }
        }
        return sum;
    }

    public int residentCount() {
        int n = 0;
        for (Object b : byUnit) {
            n += b != null ? 1 : 0;
        }
        return n;
    }

    /** Lowers or raises the budget; units beyond it are evicted (and released) now. */
    public void resize(long budget) {
        cache.policy().eviction().orElseThrow().setMaximum(kib(budget));
        cache.cleanUp();
    }

    /** Hits, misses, loads and evictions so far. */
    public CacheStats stats() {
        return counter.snapshot();
    }

    /** Weights are KiB: Caffeine weighs entries in ints, and a unit of a large model can exceed 2 GiB. */
    private static long kib(long bytes) {
        return (bytes + 1023) >>> 10;
    }

    /** Releases every resident unit. */
    @Override
    public void close() {
        cache.invalidateAll();
        cache.cleanUp();
    }
}

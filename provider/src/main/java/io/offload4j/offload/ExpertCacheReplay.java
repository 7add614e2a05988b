package io.offload4j.offload;

import com.github.benmanes.caffeine.cache.Cache;
import com.github.benmanes.caffeine.cache.Caffeine;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.PriorityQueue;

/**
 * Replays a routing trace (the experts each token chose, in order, as a {@link io.offload4j.backend.MoeRoutingCounts}
 * records it) against a GPU cache of experts with room for {@code capacity} bytes, and counts hits per block: for
 * the byte-weighted Caffeine cache the expert tier is to use (W-TinyLFU admission: an expert displaces another only
 * when it is estimated more frequent), for plain LRU (what a recency cache does), and for Belady's offline optimum
 * (evict the expert whose next use is furthest away; exact for experts of equal size, which the experts of one model
 * are, up to the mixed formats of K-quant presets). This is how the cache's hit rate is judged against the optimum
 * on the same trace.
 */
public final class ExpertCacheReplay {

    /** Hits and accesses per block. */
    public record Result(String policy, long[] hits, long[] accesses) {

        public double hitRate() {
            return (double) Arrays.stream(hits).sum() / Math.max(1, Arrays.stream(accesses).sum());
        }

        public double hitRate(int block) {
            return (double) hits[block] / Math.max(1, accesses[block]);
        }
    }

    private final int[] trace;
    private final int experts;
    private final long[] bytes;

    /**
     * @param trace   choices in order, each {@code block * experts + expert}
     * @param experts experts per block
     * @param bytes   bytes of each expert, indexed like the trace
     */
    public ExpertCacheReplay(int[] trace, int experts, long[] bytes) {
        this.trace = trace.clone();
        this.experts = experts;
        this.bytes = bytes.clone();
        for (int id : trace) {
            if (id < 0 || id >= bytes.length) {
                throw new IllegalArgumentException("trace names expert " + id + "; the model has " + bytes.length);
            }
        }
    }

    private int blocks() {
        return bytes.length / experts;
    }

    /** Byte-weighted Caffeine (W-TinyLFU), evicting on the caller's thread after every insertion. */
    public Result caffeine(long capacity) {
        Cache<Integer, Boolean> cache = Caffeine.newBuilder()
                .maximumWeight(Math.max(1, capacity >> 10))
                .weigher((Integer id, Boolean v) -> (int) Math.min(Integer.MAX_VALUE, Math.max(1, bytes[id] >> 10)))
                .executor(Runnable::run)
                .build();
        long[] hits = new long[blocks()];
        long[] accesses = new long[blocks()];
        for (int id : trace) {
            int b = id / experts;
            accesses[b]++;
            if (cache.getIfPresent(id) != null) {
                hits[b]++;
            } else {
                cache.put(id, Boolean.TRUE);
                cache.cleanUp();
            }
        }
        return new Result("W-TinyLFU (Caffeine)", hits, accesses);
    }

    /** Least recently used, byte-weighted. */
    public Result lru(long capacity) {
        LinkedHashMap<Integer, Boolean> cache = new LinkedHashMap<>(16, 0.75f, true);
        long used = 0;
        long[] hits = new long[blocks()];
        long[] accesses = new long[blocks()];
        for (int id : trace) {
            int b = id / experts;
            accesses[b]++;
            if (cache.get(id) != null) {
                hits[b]++;
                continue;
            }
            if (bytes[id] > capacity) {
                continue;
            }
            while (used + bytes[id] > capacity) {
                Map.Entry<Integer, Boolean> eldest = cache.entrySet().iterator().next();
                cache.remove(eldest.getKey());
                used -= bytes[eldest.getKey()];
            }
            cache.put(id, Boolean.TRUE);
            used += bytes[id];
        }
        return new Result("LRU", hits, accesses);
    }

    /** Belady's MIN: on a miss, keep the expert and evict those whose next use is furthest (or never). */
    public Result belady(long capacity) {
        int n = trace.length;
        int[] next = new int[n];
        int[] seen = new int[bytes.length];
        Arrays.fill(seen, Integer.MAX_VALUE);
        for (int i = n - 1; i >= 0; i--) {
            next[i] = seen[trace[i]];
            seen[trace[i]] = i;
        }
        // Cached experts by their next use, furthest first; stale entries are skipped when polled.
        PriorityQueue<long[]> byNextUse = new PriorityQueue<>((a, b) -> Long.compare(b[0], a[0]));
        long[] nextUse = new long[bytes.length];
        boolean[] cached = new boolean[bytes.length];
        long used = 0;
        long[] hits = new long[blocks()];
        long[] accesses = new long[blocks()];
        for (int i = 0; i < n; i++) {
            int id = trace[i];
            int b = id / experts;
            accesses[b]++;
            if (cached[id]) {
                hits[b]++;
            } else {
                if (bytes[id] > capacity || next[i] == Integer.MAX_VALUE) {
                    continue; // never used again: caching it cannot help
                }
                while (used + bytes[id] > capacity) {
                    long[] top = byNextUse.poll();
                    int victim = (int) top[1];
                    if (!cached[victim] || nextUse[victim] != top[0]) {
                        continue;
                    }
                    if (top[0] <= next[i]) {
                        // every cached expert is needed before this one: bypass the cache
                        byNextUse.add(top);
                        break;
                    }
                    cached[victim] = false;
                    used -= bytes[victim];
                }
                if (used + bytes[id] > capacity) {
                    continue;
                }
                cached[id] = true;
                used += bytes[id];
            }
            nextUse[id] = next[i];
            byNextUse.add(new long[] {next[i], id});
        }
        return new Result("Belady (offline optimum)", hits, accesses);
    }

    /**
     * The experts the trace uses most, chosen in hindsight and kept from their first use on (most used first, while
     * they fit; every other expert passes the cache). Where each token's choices do not depend on the ones before
     * (independent draws from fixed popularities), keeping the most probable experts is the best any policy without
     * foresight can do, so on such a trace this is about the ceiling of an online policy — what Belady's optimum is
     * ahead of it comes from knowing the future, which no cache has.
     */
    public Result hindsightStatic(long capacity) {
        long[] uses = new long[bytes.length];
        for (int id : trace) {
            uses[id]++;
        }
        Integer[] byUses = new Integer[bytes.length];
        for (int i = 0; i < byUses.length; i++) {
            byUses[i] = i;
        }
        Arrays.sort(byUses, (a, b) -> Long.compare(uses[b], uses[a]));
        boolean[] kept = new boolean[bytes.length];
        long used = 0;
        for (int id : byUses) {
            if (uses[id] > 0 && used + bytes[id] <= capacity) {
                kept[id] = true;
                used += bytes[id];
            }
        }
        boolean[] loaded = new boolean[bytes.length];
        long[] hits = new long[blocks()];
        long[] accesses = new long[blocks()];
        for (int id : trace) {
            int b = id / experts;
            accesses[b]++;
            if (loaded[id]) {
                hits[b]++;
            } else if (kept[id]) {
                loaded[id] = true; // its first use misses, as in the other policies' cold start
            }
        }
        return new Result("most used in hindsight, kept", hits, accesses);
    }
}

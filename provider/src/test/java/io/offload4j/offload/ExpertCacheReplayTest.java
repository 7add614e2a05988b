package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The expert-cache replay: Belady's optimum and the hindsight-frequent set on traces small enough to check by hand, and
 * the policies on Zipf.
 */
class ExpertCacheReplayTest {

    private static final long KIB = 1024;

    @Test
    void beladyAndLruOnACycleLargerThanTheCache() {
        // One block of 4 experts of 1 KiB, room for 2; the cycle 0 1 2 repeated three times.
        int[] trace = {0, 1, 2, 0, 1, 2, 0, 1, 2};
        long[] bytes = {KIB, KIB, KIB, KIB};
        ExpertCacheReplay r = new ExpertCacheReplay(trace, 4, bytes);
        // Belady keeps 0 and 1 and lets 2 pass: 0 and 1 hit in the second and third cycle.
        assertArrayEquals(new long[] {4}, r.belady(2 * KIB).hits());
        // A recency cache always evicts what comes next.
        assertArrayEquals(new long[] {0}, r.lru(2 * KIB).hits());
        assertArrayEquals(new long[] {9}, r.belady(2 * KIB).accesses());
        // Room for all three: only the first use of each misses.
        assertEquals(6, r.belady(3 * KIB).hits()[0]);
        assertEquals(6, r.lru(3 * KIB).hits()[0]);
    }

    @Test
    void hitsAreCountedPerBlock() {
        // Two blocks of 2 experts: ids 0,1 are block 0, ids 2,3 block 1.
        int[] trace = {0, 2, 0, 2, 1, 3, 1, 3};
        ExpertCacheReplay r = new ExpertCacheReplay(trace, 2, new long[] {KIB, KIB, KIB, KIB});
        ExpertCacheReplay.Result belady = r.belady(4 * KIB);
        assertArrayEquals(new long[] {2, 2}, belady.hits());
        assertArrayEquals(new long[] {4, 4}, belady.accesses());
        assertEquals(0.5, belady.hitRate(1));
    }

    @Test
    void hindsightStaticKeepsTheMostUsedExpertsFromTheirFirstUse() {
        // One block of 4 experts of 1 KiB, room for 2: 0 is used 4 times, 1 three times, 2 twice, 3 once.
        int[] trace = {2, 0, 1, 0, 3, 1, 0, 2, 1, 0};
        ExpertCacheReplay r = new ExpertCacheReplay(trace, 4, new long[] {KIB, KIB, KIB, KIB});
        // 0 and 1 are kept: their later uses hit (3 + 2); 2 and 3 always miss
        assertArrayEquals(new long[] {5}, r.hindsightStatic(2 * KIB).hits());
        assertArrayEquals(new long[] {10}, r.hindsightStatic(2 * KIB).accesses());
        // no room: nothing hits; room for all: every use after the first hits
        assertArrayEquals(new long[] {0}, r.hindsightStatic(KIB / 2).hits());
        assertArrayEquals(new long[] {6}, r.hindsightStatic(4 * KIB).hits());
        // Belady does at least as well with the same room
        assertTrue(r.belady(2 * KIB).hits()[0] >= 5);
    }

    /**
     * Independent Zipf-distributed choices (s = 1, 64 experts in each of 4 blocks, room for a quarter): the
     * frequency-aware cache beats recency, and no policy beats the offline optimum.
     */
    @Test
    void onSkewedTrafficTinyLfuBeatsLruAndBeladyBeatsBoth() {
        int experts = 64;
        int blocks = 4;
        double[] cdf = new double[experts];
        double z = 0;
        for (int r = 0; r < experts; r++) {
            z += 1 / (r + 1.0);
            cdf[r] = z;
        }
        SplittableRandom random = new SplittableRandom(3);
        int[] trace = new int[40_000];
        for (int i = 0; i < trace.length; i++) {
            int b = i % blocks;
            double u = random.nextDouble() * z;
            int r = 0;
            while (cdf[r] < u) {
                r++;
            }
            trace[i] = b * experts + (r * 7 + b * 13) % experts; // a different hot set per block
        }
        long[] bytes = new long[experts * blocks];
        Arrays.fill(bytes, 64 * KIB);
        ExpertCacheReplay replay = new ExpertCacheReplay(trace, experts, bytes);
        long capacity = experts * blocks / 4 * 64 * KIB;
        double belady = replay.belady(capacity).hitRate();
        double tinyLfu = replay.caffeine(capacity).hitRate();
        double lru = replay.lru(capacity).hitRate();
        double kept = replay.hindsightStatic(capacity).hitRate();
        System.out.printf("Zipf s=1, a quarter cached: Belady %.3f, most used kept %.3f, W-TinyLFU %.3f, LRU %.3f%n",
                belady, kept, tinyLfu, lru);
        assertTrue(belady >= tinyLfu && belady >= lru, "Belady " + belady + " vs " + tinyLfu + ", " + lru);
        assertTrue(tinyLfu > lru, "W-TinyLFU " + tinyLfu + " vs LRU " + lru);
        // on independent draws, the hindsight-frequent set is the online ceiling: above W-TinyLFU, below Belady
        assertTrue(belady >= kept && kept >= tinyLfu, "Belady " + belady + ", kept " + kept + ", W-TinyLFU " + tinyLfu);
    }
}

package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceWeights;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.Phase;
import io.offload4j.backend.Step;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The expert cache's two sizes: a step of several rows (a prompt chunk, a batch) shrinks it so that the step's misses
 * find free slots, a one-token decode step lets it grow back into them. Against a device whose calls only record what the tier asks of it.
 */
class ExpertTierCapacityTest {

    private static final int BLOCKS = 2;
    private static final int EXPERTS = 16;
    private static final int K = 2;
    private static final int SLOTS = 12;
    private static final int DECODE_CACHED = 8;
    private static final int CHUNK_CACHED = 5;
    private static final int ROWS = ExpertTier.PREFETCH_MIN_ROWS;

    private final int[] route = new int[ROWS * K];
    private final List<Integer> copiedInto = new ArrayList<>();
    private final Set<Integer> slotsRead = new HashSet<>();

    private final CopyRing pool = new CopyRing() {
        @Override public DeviceWeights slot(int s) { return null; }
        @Override public void copy(int unit, int slot, int ticket) { copiedInto.add(slot); }
        @Override public void awaitCopy(int ticket) {}
        @Override public void slotUsed(int slot) { slotsRead.add(slot); }
        @Override public long copyNanos(int ticket) { return 0; }
        @Override public void drain() {}
        @Override public long pinnedBytes() { return 0; }
        @Override public long slotBytes() { return 1 << 20; }
        @Override public void close() {}
    };

    private final AcceleratorModel device = (AcceleratorModel) Proxy.newProxyInstance(
            AcceleratorModel.class.getClassLoader(), new Class<?>[] {AcceleratorModel.class}, (proxy, method, a) -> {
                switch (method.getName()) {
                    case "readRouting" -> {
                        System.arraycopy(route, 0, (int[]) a[1], 0, (int) a[0] * K);
                        Arrays.fill((float[]) a[2], 0, (int) a[0] * K, 0.5f);
                    }
                    case "runPooledExperts" -> {
                        for (int s : (int[]) a[2]) { // every slot a pass reads holds an expert copied into it
                            assertTrue(s < 0 || copiedInto.contains(s), "slot " + s + " read before any copy");
                        }
                    }
                    default -> { }
                }
                return method.getReturnType() == boolean.class ? false : null;
            });

    private ExpertTier tier() {
        int[] unitOf = new int[BLOCKS * EXPERTS];
        long[] bytes = new long[unitOf.length];
        for (int i = 0; i < unitOf.length; i++) {
            unitOf[i] = i;
            bytes[i] = 1 << 20;
        }
        return new ExpertTier(pool, BLOCKS, EXPERTS, K, unitOf, bytes, SLOTS, DECODE_CACHED, CHUNK_CACHED, 1 << 20,
                ROWS);
    }

    private static final KvCache CACHE = new KvCache() {
        @Override public int capacity() { return 4096; }
        @Override public long byteSize() { return 0; }
        @Override public void close() {}
    };

    /** One step of {@code rows} rows in which row r chooses experts first + r·K .. first + r·K + K - 1 (mod 16). */
    private void step(ExpertTier tier, int rows, int first) {
        Step step = new Step(ROWS);
        step.prompt(rows == 1 ? Phase.DECODE : Phase.PROMPT, CACHE, new int[rows], 0, rows, 0);
        for (int i = 0; i < rows * K; i++) {
            route[i] = (first + i) % EXPERTS;
        }
        tier.beginStep(rows);
        for (int b = 0; b < BLOCKS; b++) {
            tier.run(device, null, b, step, false);
        }
        assertTrue(tier.idle(), "every slot free or cached between steps");
    }

    @Test
    void aPromptChunkShrinksTheCacheAndDecodeGrowsItBack() {
        try (ExpertTier tier = tier()) {
            for (int t = 0; t < 12; t++) { // decode tokens over many experts fill the cache to its decode size
                step(tier, 1, 2 * t);
            }
            assertEquals(DECODE_CACHED, tier.cachedExperts(), "decode fills every slot but 2k");
            step(tier, ROWS, 0); // a prompt chunk: 16 rows choosing all 16 experts of each block
            assertTrue(tier.cachedExperts() <= CHUNK_CACHED, "a chunk runs with the smaller cache: "
                    + tier.cachedExperts());
            long evictedBefore = tier.stats().evictions()[0] + tier.stats().evictions()[1];
            for (int t = 0; t < 12; t++) {
                step(tier, 1, 2 * t + 1);
            }
            assertEquals(DECODE_CACHED, tier.cachedExperts(), "decode grows the cache back");
            step(tier, 2, 3); // a batch of two sequences: as few cached as during a chunk
            assertTrue(tier.cachedExperts() <= CHUNK_CACHED, "a batch runs with the smaller cache: "
                    + tier.cachedExperts());
            assertTrue(tier.stats().evictions()[0] + tier.stats().evictions()[1] >= evictedBefore);
            ExpertCache.Stats s = tier.stats();
            for (int b = 0; b < BLOCKS; b++) {
                assertEquals((long) K * (24 + ROWS + 2), s.hits()[b] + s.misses()[b], "accesses of block " + b);
            }
        }
    }

    @Test
    void chunkCapacityAboveTheDecodeCapacityIsRefused() {
        int[] unitOf = new int[BLOCKS * EXPERTS];
        long[] bytes = new long[unitOf.length];
        Arrays.fill(bytes, 1 << 20);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new ExpertTier(pool, BLOCKS,
                EXPERTS, K, unitOf, bytes, SLOTS, CHUNK_CACHED, DECODE_CACHED, 1 << 20, ROWS));
        assertTrue(e.getMessage().contains("steps of several rows"), e.getMessage());
    }
}

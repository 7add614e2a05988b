package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.benmanes.caffeine.cache.stats.CacheStats;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Runs the layer cycle for many steps against the resident cache and the stream schedule, with a simulated device
 * that tracks what each staging slot holds, and checks the two properties that keep offloading from collapsing into
 * an all-miss LRU: with room for k of n equal units the hit rate is k/n, and a step copies exactly the bytes of the
 * n - k streamed units; plus the ordering rules an executor relies on (a unit computes from a slot that holds it, and
 * a copy never overwrites a slot whose unit has not been computed).
 */
class SteadyStateStreamingTest {

    private static final long UNIT = 64L << 20;

    @ParameterizedTest(name = "{0} units, room for {1} resident, prefetch depth {2}")
    @CsvSource({"32, 16, 2", "32, 8, 2", "32, 0, 2", "10, 3, 1", "10, 7, 4", "7, 2, 3", "36, 29, 2"})
    void hitRateIsKOverNAndEachStepCopiesTheStreamedBytes(int n, int k, int depth) {
        long budget = (k + depth + 1) * UNIT;
        String[] names = new String[n];
        long[] sizes = new long[n];
        for (int i = 0; i < n; i++) {
            names[i] = "block " + i;
            sizes[i] = UNIT;
        }
        PlacementPlan plan = PlacementPlanner.plan(new PlanRequest(names, sizes, budget, depth,
                new Bandwidths(53.4, 0), 1, PlacementPolicy.AUTO, false));
        int resident = plan.count(Placement.RESIDENT);
        assertTrue(resident >= k, plan.toString());
        StreamSchedule schedule = new StreamSchedule(plan);
        List<Long> released = new ArrayList<>();
        try (ResidentBlockCache<Long> cache = new ResidentBlockCache<>(n, plan.residentBytes(), b -> UNIT,
                released::add)) {
            for (int u = 0; u < n; u++) {
                if (plan.placement(u) == Placement.RESIDENT) {
                    cache.put(u, (long) u);
                }
            }
            SimulatedDevice device = new SimulatedDevice(schedule);
            int steps = 50;
            long copiedBefore = 0;
            for (int step = 0; step < steps; step++) {
                device.step(cache, n);
                long perStep = device.copiedBytes - copiedBefore;
                copiedBefore = device.copiedBytes;
                if (step > 0) { // the first step also copies the ring's first fill
                    assertEquals((n - resident) * UNIT, perStep, "bytes copied in step " + step);
                }
            }
            CacheStats stats = cache.stats();
            assertEquals((long) resident * steps, stats.hitCount());
            assertEquals((long) (n - resident) * steps, stats.missCount());
            assertEquals(resident / (double) n, stats.hitRate(), 1e-12);
            assertEquals(0, stats.evictionCount(), "the layer cycle must never evict a pinned unit");
            assertEquals(resident, stats.loadCount());
        }
        assertEquals(resident, released.size(), "closing releases every resident unit once");
    }

    /** A device that executes the schedule in order and records what every slot holds. */
    private static final class SimulatedDevice {
        final StreamSchedule schedule;
        final int[] slotHolds;
        final boolean[] slotComputed;
        long copiedBytes;
        int issued; // copies issued in the current step (ordinals 0..issued-1)

        SimulatedDevice(StreamSchedule schedule) {
            this.schedule = schedule;
            this.slotHolds = new int[Math.max(1, schedule.slots())];
            this.slotComputed = new boolean[slotHolds.length];
            java.util.Arrays.fill(slotHolds, -1);
            java.util.Arrays.fill(slotComputed, true);
        }

        void step(ResidentBlockCache<Long> cache, int n) {
            for (int u = 0; u < n; u++) {
                int limit = schedule.issueLimitBefore(u);
                while (issued < limit) {
                    copy(issued++);
                }
                Long resident = cache.access(u);
                int ordinal = schedule.ordinalOf(u);
                if (resident != null) {
                    assertEquals(-1, ordinal);
                    assertEquals(u, resident.intValue());
                } else {
                    int slot = schedule.slotOf(ordinal);
                    assertEquals(u, slotHolds[slot], "unit " + u + " computes from slot " + slot);
                    slotComputed[slot] = true;
                }
            }
            // the first copies of the next step go out as soon as this step's last unit is enqueued
            issued = 0;
            int ahead = Math.min(schedule.issueAheadOfNextStep(), schedule.streamedCount());
            while (issued < ahead) {
                copy(issued++);
            }
        }

        void copy(int ordinal) {
            int slot = schedule.slotOf(ordinal);
            assertTrue(slotComputed[slot], "copy of ordinal " + ordinal + " would overwrite unit " + slotHolds[slot]
                    + " before it computed");
            slotHolds[slot] = schedule.unitOf(ordinal);
            slotComputed[slot] = false;
            copiedBytes += UNIT;
        }
    }
}

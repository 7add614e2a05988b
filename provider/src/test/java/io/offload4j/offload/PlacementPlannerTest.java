package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class PlacementPlannerTest {

    private static final long MB = 1L << 20;
    private static final Bandwidths H100 = new Bandwidths(53.4, 20);

    private static PlanRequest equalUnits(int n, long bytes, long budget, int depth, Bandwidths bw, int batch,
                                          PlacementPolicy policy, boolean cpu) {
        String[] names = new String[n];
        long[] sizes = new long[n];
        for (int i = 0; i < n; i++) {
            names[i] = "block " + i;
            sizes[i] = bytes;
        }
        return new PlanRequest(names, sizes, budget, depth, bw, batch, policy, cpu);
    }

    @Test
    void everythingResidentWhenItFits() {
        PlacementPlan plan = PlacementPlanner.plan(equalUnits(8, 100 * MB, 800 * MB, 2, H100, 1, PlacementPolicy.AUTO, false));
        assertTrue(plan.allResident());
        assertEquals(0, plan.stagingSlots());
        assertEquals(800 * MB, plan.gpuBytes());
        assertEquals(0, plan.streamedBytesPerStep());
    }

    @Test
    void pinsWhatFitsNextToTheRingAndStreamsTheRest() {
        // 10 units of 100 MB, budget 600 MB, depth 2: ring 300 MB, room for 3 resident
        PlacementPlan plan = PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2, H100, 1, PlacementPolicy.AUTO, false));
        assertEquals(3, plan.count(Placement.RESIDENT));
        assertEquals(7, plan.count(Placement.STREAMED));
        assertEquals(3, plan.stagingSlots());
        assertEquals(100 * MB, plan.slotBytes());
        assertEquals(700 * MB, plan.streamedBytesPerStep());
        assertTrue(plan.gpuBytes() <= 600 * MB);
        // spread through the cycle, not bunched at the front
        assertArrayEquals(new Placement[] {Placement.RESIDENT, Placement.STREAMED, Placement.STREAMED,
                Placement.RESIDENT, Placement.STREAMED, Placement.STREAMED, Placement.RESIDENT, Placement.STREAMED,
                Placement.STREAMED, Placement.STREAMED}, plan.placements());
        assertTrue(plan.reasoning().contains("3 resident"), plan.reasoning());
        assertTrue(plan.reasoning().contains("7 streamed through 3 staging slots"), plan.reasoning());
    }

    @Test
    void ringShrinksWhenFewerUnitsThanSlotsAreOffTheGpu() {
        // 6 × 100 MB, depth 4 (up to 5 slots), budget 550 MB: 4 resident + 2 streamed through 2 slots = 600 MB is
        // too much, 3 resident + 3 streamed through 3 slots = 600 MB too, ... 0 resident + 5 slots = 500 MB fits;
        // with a 5-slot ring regardless of the count nothing would fit beside it
        PlacementPlan plan = PlacementPlanner.plan(equalUnits(6, 100 * MB, 550 * MB, 4, H100, 1, PlacementPolicy.AUTO, false));
        assertTrue(plan.gpuBytes() <= 550 * MB, plan.toString());
        assertEquals(plan.count(Placement.STREAMED) >= 5 ? 5 : plan.count(Placement.STREAMED), plan.stagingSlots());
        // 5 units, depth 4, budget 450: one resident + 4 streamed through 4 slots = 500 > 450; none resident and
        // 5 slots = 500 > 450; so it cannot stream at all
        assertThrows(IllegalArgumentException.class,
                () -> PlacementPlanner.plan(equalUnits(5, 100 * MB, 450 * MB, 4, H100, 1, PlacementPolicy.AUTO, false)));
    }

    @Test
    void budgetBelowTheRingIsAClearError() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> PlacementPlanner.plan(equalUnits(10, 100 * MB, 250 * MB, 2, H100, 1, PlacementPolicy.AUTO, false)));
        assertTrue(e.getMessage().contains("GPU budget of 250.0 MiB is too small"), e.getMessage());
        assertTrue(e.getMessage().contains("3 slots"), e.getMessage());
        assertTrue(e.getMessage().contains("raise the GPU memory budget or lower the prefetch depth"), e.getMessage());
    }

    @Test
    void cpuAndCopiesShareTheOffGpuUnitsSoThatBothBandwidthsAddUp() {
        // 7 units of 100 MiB off the GPU, PCIe 50 GB/s, CPU 80 / 0.6 GB/s probed (80 in a step): 4 on the CPU
        // (5.2 ms) and 3 streamed (6.3 ms) overlap, max 6.3 ms, against 14.7 ms streaming all
        Bandwidths fastHost = new Bandwidths(50, 80 / PlacementPlanner.CPU_IN_STEP_FACTOR);
        PlacementPlan one = PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2, fastHost, 1, PlacementPolicy.AUTO, true));
        assertEquals(4, one.count(Placement.CPU), one.toString());
        assertEquals(3, one.count(Placement.STREAMED), one.toString());
        assertEquals(3, one.stagingSlots());
        // four sequences: the CPU computes each, a copy serves all four, so fewer units are worth it
        PlacementPlan four = PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2, fastHost, 4, PlacementPolicy.AUTO, true));
        assertTrue(four.count(Placement.CPU) >= 1 && four.count(Placement.CPU) < one.count(Placement.CPU),
                four.toString());
        // a slow host never gets a unit, nor one whose gain would be under 1.2×: at 10 GB/s in a step one unit of
        // seven saves 1 ms of 14.7 (1.07×)
        PlacementPlan slow = PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2, new Bandwidths(50, 5), 1,
                PlacementPolicy.AUTO, true));
        assertEquals(0, slow.count(Placement.CPU), slow.toString());
        PlacementPlan marginal = PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2,
                new Bandwidths(50, 10 / PlacementPlanner.CPU_IN_STEP_FACTOR), 1, PlacementPolicy.AUTO, true));
        assertEquals(0, marginal.count(Placement.CPU), marginal.toString());
        // a backend that cannot hand units to the CPU streams them and says so
        PlacementPlan noCpu = PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2, fastHost, 1, PlacementPolicy.AUTO,
                false));
        assertEquals(7, noCpu.count(Placement.STREAMED));
        assertTrue(noCpu.reasoning().contains("CPU compute not available here"), noCpu.reasoning());
        // only eligible units (the blocks, not the output head) go to the CPU, and the others are the first kept
        // resident: streamed, they would bunch at the end of every step, with nothing left for the CPU to overlap
        String[] names = new String[10];
        long[] sizes = new long[10];
        java.util.Arrays.fill(names, "u");
        java.util.Arrays.fill(sizes, 100 * MB);
        PlacementPlan eligible = PlacementPlanner.plan(new PlanRequest(names, sizes, 600 * MB, 2, fastHost, 1,
                PlacementPolicy.CPU, true, 8));
        assertEquals(Placement.RESIDENT, eligible.placement(9), eligible.toString());
        assertEquals(Placement.RESIDENT, eligible.placement(8), eligible.toString());
        assertEquals(Placement.RESIDENT, eligible.placement(0), eligible.toString());
        assertEquals(7, eligible.count(Placement.CPU), eligible.toString());
        // streaming only: no preference, the resident units are spread through the whole cycle
        PlacementPlan streamed = PlacementPlanner.plan(new PlanRequest(names, sizes, 600 * MB, 2, fastHost, 1,
                PlacementPolicy.STREAM, true, 8));
        assertEquals(Placement.STREAMED, streamed.placement(9), streamed.toString());
        assertEquals(Placement.RESIDENT, streamed.placement(6), streamed.toString());
    }

    @Test
    void policiesOverrideTheEstimate() {
        Bandwidths slowHost = new Bandwidths(50, 5);
        assertEquals(7, PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2, slowHost, 1, PlacementPolicy.CPU, true))
                .count(Placement.CPU));
        assertEquals(7, PlacementPlanner.plan(equalUnits(10, 100 * MB, 600 * MB, 2, new Bandwidths(50, 500), 1,
                PlacementPolicy.STREAM, true)).count(Placement.STREAMED));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PlacementPlanner.plan(
                equalUnits(10, 100 * MB, 600 * MB, 2, slowHost, 1, PlacementPolicy.CPU, false)));
        assertTrue(e.getMessage().contains("use placement 'stream' or 'auto'"), e.getMessage());
    }

    @Test
    void unequalUnitsNeverExceedTheBudget() {
        long[] sizes = {300 * MB, 80 * MB, 80 * MB, 80 * MB, 80 * MB, 500 * MB};
        String[] names = Arrays.stream(sizes).mapToObj(s -> "u" + s).toArray(String[]::new);
        for (long budget = 1500 * MB; budget <= 1200 * MB + 1120 * MB; budget += 37 * MB) {
            PlacementPlan plan = PlacementPlanner.plan(new PlanRequest(names, sizes, budget, 1, H100, 1, PlacementPolicy.AUTO,
                    false));
            assertTrue(plan.gpuBytes() <= budget, plan + " over " + budget);
        }
    }
}

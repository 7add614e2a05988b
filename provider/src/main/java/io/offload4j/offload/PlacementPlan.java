package io.offload4j.offload;

import java.util.Arrays;

/**
 * The planner's decision: a placement per unit, and the staging ring the streamed units pass through.
 *
 * @param placements           one per unit, in forward order
 * @param stagingSlots         GPU staging slots (0 when nothing streams)
 * @param slotBytes            bytes of one slot: the largest streamed unit
 * @param residentBytes        bytes of the resident units
 * @param streamedBytesPerStep bytes copied host → GPU per forward step
 * @param cpuBytesPerStep      bytes the CPU reads per forward step and sequence
 * @param reasoning            the decision and its inputs, in words, for the log and the metrics
 */
public record PlacementPlan(Placement[] placements, int stagingSlots, long slotBytes, long residentBytes,
                            long streamedBytesPerStep, long cpuBytesPerStep, String reasoning) {

    public int count(Placement p) {
        int n = 0;
        for (Placement q : placements) {
            if (q == p) {
                n++;
            }
        }
        return n;
    }

    public boolean allResident() {
        return count(Placement.RESIDENT) == placements.length;
    }

    /** GPU bytes the plan occupies: resident units plus the ring. */
    public long gpuBytes() {
        return residentBytes + stagingSlots * slotBytes;
    }

    public Placement placement(int unit) {
        return placements[unit];
    }

    @Override
    public String toString() {
        return reasoning + " " + Arrays.toString(placements);
    }
}

package io.offload4j.offload;

/**
 * The order of copies for the streamed units of a plan, the same for every step: which staging slot each streamed
 * unit uses and how many copies must have been issued before a unit computes.
 *
 * <p>Streamed unit number j (its <em>ordinal</em>, counting only streamed units in forward order) always uses slot
 * {@code j % slots}. Before a unit computes, copies up to ordinal {@code next + slots - 1} are issued, where
 * {@code next} is the ordinal of the first streamed unit not yet computed: every slot then holds, or is receiving,
 * one of the next {@code slots} streamed units. A copy into a slot is issued only after the compute of the slot's
 * previous user has been enqueued, so the executor can order "copy after that compute" with an event. After the
 * last unit, the first {@code slots} copies of the next step can be issued at once, overlapping the copy of the
 * next step's first units with whatever the host does between steps (sampling).
 */
public final class StreamSchedule {

    private final int[] streamedUnits;
    private final int[] ordinalOf;
    private final int[] nextOrdinal;
    private final int slots;

    /** The streamed units of a batch-1 decode step (CPU units computed on the CPU). */
    public StreamSchedule(PlacementPlan plan) {
        this(plan, false);
    }

    /**
     * @param cpuUnitsStream whether the plan's CPU units are streamed too: in steps of several tokens (a prompt
     *                       chunk, a batch), where the GPU computes every unit
     */
    public StreamSchedule(PlacementPlan plan, boolean cpuUnitsStream) {
        Placement[] p = plan.placements();
        int m = plan.count(Placement.STREAMED) + (cpuUnitsStream ? plan.count(Placement.CPU) : 0);
        this.streamedUnits = new int[m];
        this.ordinalOf = new int[p.length];
        this.nextOrdinal = new int[p.length];
        int j = 0;
        for (int u = 0; u < p.length; u++) {
            nextOrdinal[u] = j;
            if (p[u] == Placement.STREAMED || cpuUnitsStream && p[u] == Placement.CPU) {
                ordinalOf[u] = j;
                streamedUnits[j++] = u;
            } else {
                ordinalOf[u] = -1;
            }
        }
        this.slots = m == 0 ? 0 : Math.min(plan.stagingSlots(), m);
        if (m > 0 && slots < 1) {
            throw new IllegalArgumentException("a plan with streamed units needs at least one staging slot");
        }
    }

    /** Streamed units per step. */
    public int streamedCount() {
        return streamedUnits.length;
    }

    public int slots() {
        return slots;
    }

    /** The unit streamed as ordinal {@code j}. */
    public int unitOf(int ordinal) {
        return streamedUnits[ordinal];
    }

    /** The ordinal of a streamed unit, -1 for a unit that is not streamed. */
    public int ordinalOf(int unit) {
        return ordinalOf[unit];
    }

    public int slotOf(int ordinal) {
        return ordinal % slots;
    }

    /** Copies (ordinals {@code 0 ..} result, exclusive) that must have been issued before {@code unit} computes. */
    public int issueLimitBefore(int unit) {
        return Math.min(streamedUnits.length, nextOrdinal[unit] + slots);
    }

    /** Copies of the next step that may be issued as soon as this step's last unit has been enqueued. */
    public int issueAheadOfNextStep() {
        return slots;
    }
}

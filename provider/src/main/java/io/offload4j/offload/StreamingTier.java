package io.offload4j.offload;

import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceWeights;

/**
 * The accelerator tier of a placed model, step by step: the resident units in a {@link ResidentBlockCache}, and the
 * streamed ones moved through a {@link CopyRing} in the order of a {@link StreamSchedule} (one per {@link StepRoute}:
 * a hybrid decode step streams fewer units than a prompt chunk). This is the acquire / prefetch / release part of the
 * per-step loop; the ring only executes it.
 *
 * <p>Ordering: before a unit computes, the copies the schedule asks for by then have been issued; the compute waits
 * for the unit's own copy when it is streamed; after its compute is enqueued, its slot may be refilled. When a step's
 * last unit is enqueued, the next step's first copies start at once, overlapping the host's work between steps. A
 * copy's ticket is {@code parity * streamed + ordinal}, so the events of the step in flight are never those of the
 * step being issued.
 */
final class StreamingTier implements AutoCloseable {

    private final PlacementPlan plan;
    private final ResidentBlockCache<DeviceWeights> resident;
    private final CopyRing ring;                 // null when nothing streams
    private final StreamSchedule[] schedules;    // per StepRoute
    private final long[] bytesPerStep;           // per StepRoute
    private final int tickets;                   // per parity
    private StreamSchedule schedule;
    private StepRoute current;
    private int parity;
    private int issued;                          // copies of the current step issued so far
    private long bytesStreamed;
    private long copyNanos;
    private long steps;

    StreamingTier(PlacementPlan plan, ResidentBlockCache<DeviceWeights> resident, CopyRing ring, long[] unitBytes) {
        this.plan = plan;
        this.resident = resident;
        this.ring = ring;
        StepRoute[] routes = StepRoute.values();
        this.schedules = new StreamSchedule[routes.length];
        this.bytesPerStep = new long[routes.length];
        int widest = 0;
        for (StepRoute r : routes) {
            StreamSchedule s = new StreamSchedule(plan, r == StepRoute.ALL_ACCELERATOR);
            schedules[r.ordinal()] = s;
            for (int j = 0; j < s.streamedCount(); j++) {
                bytesPerStep[r.ordinal()] += unitBytes[s.unitOf(j)];
            }
            widest = Math.max(widest, s.streamedCount());
        }
        if (widest > 0 && ring == null) {
            throw new IllegalArgumentException("a plan that streams needs a copy ring");
        }
        this.tickets = widest;
        this.current = StepRoute.HYBRID;
        this.schedule = schedules[current.ordinal()];
    }

    /** The schedule of the steps that stream most: what the ring's slots and tickets are sized for. */
    static StreamSchedule widest(PlacementPlan plan) {
        return new StreamSchedule(plan, true);
    }

    /**
     * Device memory unit {@code unit} computes from in steps of {@code route}: its resident buffer, the staging slot
     * it always streams into, or null where the CPU computes it.
     */
    DeviceWeights weightsOf(int unit, StepRoute route) {
        DeviceWeights b = resident.peek(unit);
        if (b != null) {
            return b;
        }
        StreamSchedule s = schedules[route.ordinal()];
        int ordinal = s.ordinalOf(unit);
        return ordinal < 0 ? null : ring.slot(s.slotOf(ordinal));
    }

    /** Whether any step copies weights (a wholly resident model never does). */
    boolean streams() {
        return tickets > 0;
    }

    /**
     * Starts a step of {@code route}. Switching routes throws away the copies issued ahead for the other one: they
     * are waited for (they fill slots the new route then overwrites in its own order).
     */
    void beginStep(StepRoute route) {
        if (route == current) {
            return;
        }
        if (ring != null) {
            ring.drain();
        }
        current = route;
        schedule = schedules[route.ordinal()];
        issued = 0;
    }

    /** A unit the CPU computes in this step: a miss for the accelerator tier. */
    void cpuUnit(int unit) {
        resident.access(unit);
    }

    /** Before {@code unit} computes: issues the copies due by now and waits (on the device) for its own. */
    void acquire(int unit) {
        int limit = schedule.issueLimitBefore(unit);
        while (issued < limit) {
            issue(issued++, parity);
        }
        if (resident.access(unit) == null) {
            ring.awaitCopy(parity * tickets + schedule.ordinalOf(unit));
        }
    }

    /** After {@code unit}'s work is enqueued: its slot may be refilled once that work has run. */
    void release(int unit) {
        int ordinal = schedule.ordinalOf(unit);
        if (ordinal >= 0) {
            ring.slotUsed(schedule.slotOf(ordinal));
        }
    }

    /** After the step's last unit is enqueued: starts the next step's first copies, overlapping the host's work. */
    void endStep() {
        if (schedule.streamedCount() == 0) {
            return;
        }
        int next = parity ^ 1;
        int ahead = Math.min(schedule.issueAheadOfNextStep(), schedule.streamedCount());
        for (int j = 0; j < ahead; j++) {
            issue(j, next);
        }
        issued = ahead;
        parity = next;
    }

    private void issue(int ordinal, int p) {
        ring.copy(schedule.unitOf(ordinal), schedule.slotOf(ordinal), p * tickets + ordinal);
    }

    /**
     * After the step has been synchronised: adds its copy times (the tickets of the parity that has just completed)
     * to the statistics. Allocation-free.
     */
    void stepCompleted() {
        steps++;
        if (schedule.streamedCount() == 0) {
            return;
        }
        int done = parity ^ 1;
        for (int j = 0; j < schedule.streamedCount(); j++) {
            copyNanos += ring.copyNanos(done * tickets + j);
        }
        bytesStreamed += bytesPerStep[current.ordinal()];
    }

    /** A step replayed from a graph (only when every unit is resident): every unit was a hit. */
    void replayedResidentStep() {
        resident.recordHits(plan.placements().length);
    }

    /** After a failed step: waits for every copy in flight and starts the next step from a clean state. */
    void reset() {
        if (ring != null) {
            ring.drain();
        }
        issued = 0;
    }

    long bytesPerStep(StepRoute route) {
        return bytesPerStep[route.ordinal()];
    }

    long stagingBytes() {
        return ring == null ? 0 : ring.slotBytes();
    }

    long hostPinnedBytes() {
        return ring == null ? 0 : ring.pinnedBytes();
    }

    PlacementPlan plan() {
        return plan;
    }

    /** The statistics so far; the CPU's times are kept by the pass that runs its blocks. */
    OffloadStats stats(long cpuNanos, long cpuWaitNanos) {
        var s = resident.stats();
        return new OffloadStats(plan.count(Placement.RESIDENT), plan.count(Placement.STREAMED),
                plan.count(Placement.CPU), resident.residentBytes(), stagingBytes(), hostPinnedBytes(), s.hitCount(),
                s.missCount(), s.evictionCount(), s.loadCount(), bytesStreamed, copyNanos, steps, cpuNanos,
                cpuWaitNanos);
    }

    @Override
    public void close() {
        if (ring != null) {
            ring.close();
        }
        resident.close();
    }
}

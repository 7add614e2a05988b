package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

import io.offload4j.model.Weight;
import io.offload4j.offload.OffloadStats;
import io.offload4j.offload.Placement;
import io.offload4j.offload.PlacementPlan;
import io.offload4j.offload.ResidentBlockCache;
import io.offload4j.offload.StreamSchedule;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * The weight tiers of one model on one GPU and the copies between them.
 *
 * <p>A <em>unit</em> is the set of weight matrices one step of the forward pass computes with: a transformer block,
 * or a slice of the output head. Its matrices are laid out back to back (256-byte aligned) so that a unit moves in
 * one copy. Where each unit lives is decided by the {@link PlacementPlan}:
 * <ul>
 *   <li>resident units are copied to device memory once and held in a {@link ResidentBlockCache};
 *   <li>streamed units are copied once into pinned host memory (as far as the pinned budget allows; the rest are
 *       gathered from the file mapping into pinned staging buffers by parallel host copies, every step), and from
 *       there into a ring of device staging slots on a copy stream of their own, ahead of the compute stream.
 * </ul>
 *
 * <p>Ordering (see {@link StreamSchedule}): a copy into a slot waits for the event recorded after the compute of the
 * slot's previous unit; the compute of a streamed unit waits for the event recorded after its copy. The copies of a
 * step are timed with events so that achieved host → device bandwidth can be reported against the measured one.
 */
final class StreamingWeights implements AutoCloseable {

    private static final long ALIGN = 256;

    /** Where one unit's matrices sit inside its device buffer or slot. */
    record UnitLayout(String name, Weight[] parts, long[] offsets, long bytes) {

        static UnitLayout of(String name, Weight... parts) {
            long[] offsets = new long[parts.length];
            long at = 0;
            for (int i = 0; i < parts.length; i++) {
                offsets[i] = at;
                at += (parts[i].data().byteSize() + CudaKernels.PADDING + ALIGN - 1) / ALIGN * ALIGN;
            }
            return new UnitLayout(name, parts, offsets, at);
        }
    }

    private record DeviceBuffer(CUdeviceptr ptr, long bytes) {}

    private final UnitLayout[] units;
    private final PlacementPlan plan;
    /** [0]: batch-1 decode (CPU units computed on the CPU); [1]: every other step (CPU units streamed too). */
    private final StreamSchedule[] schedules;
    private final long[] bytesPerStep;
    private StreamSchedule schedule;
    private int current;
    private final ResidentBlockCache<DeviceBuffer> resident;
    private final CUdeviceptr[] slots;
    private final Pointer[] pinned;          // per unit: pinned host copy, or null
    private final long hostPinnedBytes;
    private final Pointer[] hostStaging;     // pinned staging for units not in pinned memory
    private final CUevent[] hostStagingFree;
    private int nextHostStaging;
    private final CUstream copyStream = new CUstream();
    private final CUevent[] slotFree;
    private final CUevent[][] copyBegin;     // [step parity][ordinal], timing events
    private final CUevent[][] copyEnd;
    private final List<CUdeviceptr> deviceAllocations = new ArrayList<>();
    private final List<Pointer> hostAllocations = new ArrayList<>();

    private int parity;
    private int issued;                      // copies of the current step issued so far
    private long bytesStreamed;
    private long copyNanos;
    private long steps;
    private final float[] elapsedMs = new float[1];

    /**
     * Allocates the tiers and fills them: resident units to the device, streamed units to pinned host memory up to
     * {@code hostPinnedBudget} bytes.
     */
    StreamingWeights(UnitLayout[] units, PlacementPlan plan, long hostPinnedBudget) {
        this.units = units;
        this.plan = plan;
        this.schedules = new StreamSchedule[] {new StreamSchedule(plan, false), new StreamSchedule(plan, true)};
        this.bytesPerStep = new long[2];
        for (int k = 0; k < 2; k++) {
            for (int j = 0; j < schedules[k].streamedCount(); j++) {
                bytesPerStep[k] += units[schedules[k].unitOf(j)].bytes();
            }
        }
        this.schedule = schedules[0];
        StreamSchedule widest = schedules[1];
        int n = units.length;
        this.pinned = new Pointer[n];
        this.slots = new CUdeviceptr[widest.slots()];
        this.slotFree = new CUevent[widest.slots()];
        int m = widest.streamedCount();
        this.copyBegin = new CUevent[2][m];
        this.copyEnd = new CUevent[2][m];
        // the cache weighs in whole KiB (rounded up per unit): 2 KiB of slack per unit keeps the pinned set within it
        this.resident = new ResidentBlockCache<>(n, Math.max(1, plan.residentBytes() + n * 2048L),
                DeviceBuffer::bytes, b -> cuMemFree(b.ptr()));
        try {
            for (int u = 0; u < n; u++) {
                if (plan.placement(u) == Placement.RESIDENT) {
                    CUdeviceptr p = new CUdeviceptr();
                    cuMemAlloc(p, units[u].bytes());
                    resident.put(u, new DeviceBuffer(p, units[u].bytes()));
                    uploadSync(units[u], p);
                }
            }
            long pinnedSoFar = 0;
            // units streamed at every step first: they gain most from pinned memory
            for (int k = 0; k < 2; k++) {
                for (int j = 0; j < schedules[k].streamedCount(); j++) {
                    int u = schedules[k].unitOf(j);
                    UnitLayout unit = units[u];
                    if (pinned[u] == null && pinnedSoFar + unit.bytes() <= hostPinnedBudget) {
                        Pointer host = new Pointer();
                        cuMemHostAlloc(host, unit.bytes(), 0);
                        hostAllocations.add(host);
                        gather(unit, host);
                        pinned[u] = host;
                        pinnedSoFar += unit.bytes();
                    }
                }
            }
            this.hostPinnedBytes = pinnedSoFar;
            boolean staged = IntStream.range(0, m).anyMatch(j -> pinned[widest.unitOf(j)] == null);
            this.hostStaging = new Pointer[staged ? 2 : 0];
            this.hostStagingFree = new CUevent[hostStaging.length];
            for (int i = 0; i < hostStaging.length; i++) {
                hostStaging[i] = new Pointer();
                cuMemHostAlloc(hostStaging[i], plan.slotBytes(), 0);
                hostAllocations.add(hostStaging[i]);
                hostStagingFree[i] = event(false);
            }
            for (int s = 0; s < slots.length; s++) {
                slots[s] = new CUdeviceptr();
                cuMemAlloc(slots[s], plan.slotBytes());
                deviceAllocations.add(slots[s]);
                slotFree[s] = event(false);
            }
            for (int p = 0; p < 2; p++) {
                for (int j = 0; j < m; j++) {
                    copyBegin[p][j] = event(true);
                    copyEnd[p][j] = event(true);
                }
            }
            if (m > 0) {
                cuStreamCreate(copyStream, CUstream_flags.CU_STREAM_NON_BLOCKING);
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private static CUevent event(boolean timing) {
        CUevent e = new CUevent();
        cuEventCreate(e, timing ? CUevent_flags.CU_EVENT_DEFAULT : CUevent_flags.CU_EVENT_DISABLE_TIMING);
        return e;
    }

    /** Copies a unit from the file mapping straight to device memory (at load, for resident units). */
    private static void uploadSync(UnitLayout unit, CUdeviceptr dst) {
        long slice = 1L << 30;  // ByteBuffer views are limited to 2 GiB
        for (int i = 0; i < unit.parts().length; i++) {
            MemorySegment src = unit.parts()[i].data();
            long size = src.byteSize();
            for (long off = 0; off < size; off += slice) {
                long len = Math.min(slice, size - off);
                cuMemcpyHtoD(dst.withByteOffset(unit.offsets()[i] + off), Pointer.to(src.asSlice(off, len).asByteBuffer()),
                        len);
            }
        }
    }

    /** Copies a unit's matrices from the file mapping into host memory at {@code host}, in parallel 16 MiB pieces. */
    private static void gather(UnitLayout unit, Pointer host) {
        MemorySegment dst = hostSegment(host, unit.bytes());
        long piece = 16L << 20;
        List<long[]> jobs = new ArrayList<>();
        for (int i = 0; i < unit.parts().length; i++) {
            long size = unit.parts()[i].data().byteSize();
            for (long off = 0; off < size; off += piece) {
                jobs.add(new long[] {i, off, Math.min(piece, size - off)});
            }
        }
        jobs.parallelStream().forEach(job -> MemorySegment.copy(unit.parts()[(int) job[0]].data(), job[1], dst,
                unit.offsets()[(int) job[0]] + job[1], job[2]));
    }

    private static MemorySegment hostSegment(Pointer host, long bytes) {
        long address = MemorySegment.ofBuffer(host.getByteBuffer(0, 1)).address();
        return MemorySegment.ofAddress(address).reinterpret(bytes);
    }

    // ------------------------------------------------------------------ per step

    /**
     * Device address of a unit in steps of kind {@code kind} (0: batch-1 decode, 1: others): its resident buffer, the
     * staging slot it always streams into, or null for a unit the CPU computes in such steps.
     */
    CUdeviceptr address(int unit, int kind) {
        DeviceBuffer b = resident.peek(unit);
        if (b != null) {
            return b.ptr();
        }
        int ordinal = schedules[kind].ordinalOf(unit);
        return ordinal < 0 ? null : slots[schedules[kind].slotOf(ordinal)];
    }

    /** Whether any step copies weights (a wholly resident model never does). */
    boolean streams() {
        return schedules[1].streamedCount() > 0;
    }

    /**
     * Starts a step of kind {@code kind}. Switching kinds throws away the copies issued ahead for the other kind:
     * they are waited for (they fill slots the new kind then overwrites in its own order).
     */
    void beginStep(int kind) {
        if (kind == current) {
            return;
        }
        if (streams()) {
            cuStreamSynchronize(copyStream);
        }
        current = kind;
        schedule = schedules[kind];
        issued = 0;
    }

    /** A unit the CPU computes in this step: a miss for the GPU tier. */
    void cpuUnit(int unit) {
        resident.access(unit);
    }

    /**
     * Before {@code unit} computes on {@code compute}: issues the copies the schedule asks for by now, and makes the
     * compute stream wait for the unit's own copy when it is streamed.
     */
    void beforeUnit(int unit, CUstream compute) {
        int limit = schedule.issueLimitBefore(unit);
        while (issued < limit) {
            issue(issued++, parity);
        }
        if (resident.access(unit) == null) {
            cuStreamWaitEvent(compute, copyEnd[parity][schedule.ordinalOf(unit)], 0);
        }
    }

    /** After {@code unit}'s kernels are enqueued on {@code compute}: its slot may be refilled once they finish. */
    void afterUnit(int unit, CUstream compute) {
        int ordinal = schedule.ordinalOf(unit);
        if (ordinal >= 0) {
            cuEventRecord(slotFree[schedule.slotOf(ordinal)], compute);
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

    /**
     * After the compute stream of a step has been synchronised: adds the step's copy times (the events of the
     * parity that has just completed) to the statistics. Allocation-free.
     */
    void stepCompleted() {
        steps++;
        if (schedule.streamedCount() == 0) {
            return;
        }
        int done = parity ^ 1;
        for (int j = 0; j < schedule.streamedCount(); j++) {
            cuEventElapsedTime(elapsedMs, copyBegin[done][j], copyEnd[done][j]);
            copyNanos += (long) (elapsedMs[0] * 1e6);
        }
        bytesStreamed += bytesPerStep[current];
    }

    /** A step replayed from a CUDA graph (only when every unit is resident): every unit was a hit. */
    void replayedResidentStep() {
        resident.recordHits(units.length);
    }

    /** After a failed step: waits for every copy in flight and starts the next step from a clean state. */
    void reset() {
        if (streams()) {
            cuStreamSynchronize(copyStream);
        }
        issued = 0;
    }

    private void issue(int ordinal, int p) {
        int unit = schedule.unitOf(ordinal);
        UnitLayout layout = units[unit];
        int slot = schedule.slotOf(ordinal);
        cuStreamWaitEvent(copyStream, slotFree[slot], 0);
        Pointer source = pinned[unit];
        int staging = -1;
        if (source == null) {
            // not in pinned memory: gather it from the mapping into a free pinned staging buffer first
            staging = nextHostStaging;
            nextHostStaging = (nextHostStaging + 1) % hostStaging.length;
            cuEventSynchronize(hostStagingFree[staging]);
            gather(layout, hostStaging[staging]);
            source = hostStaging[staging];
        }
        cuEventRecord(copyBegin[p][ordinal], copyStream);
        cuMemcpyHtoDAsync(slots[slot], source, layout.bytes(), copyStream);
        cuEventRecord(copyEnd[p][ordinal], copyStream);
        if (staging >= 0) {
            cuEventRecord(hostStagingFree[staging], copyStream);
        }
    }

    // ------------------------------------------------------------------ reporting

    PlacementPlan plan() {
        return plan;
    }

    /** Bytes a step of kind {@code kind} copies. */
    long bytesPerStep(int kind) {
        return bytesPerStep[kind];
    }

    long stagingBytes() {
        return slots.length * plan.slotBytes();
    }

    long hostPinnedBytes() {
        return hostPinnedBytes;
    }

    /** The statistics so far; the CPU's times are kept by the pass that runs its blocks. */
    OffloadStats stats(long cpuNanos, long cpuWaitNanos) {
        var s = resident.stats();
        return new OffloadStats(plan.count(Placement.RESIDENT), plan.count(Placement.STREAMED),
                plan.count(Placement.CPU), resident.residentBytes(), stagingBytes(),
                hostPinnedBytes, s.hitCount(), s.missCount(), s.evictionCount(), s.loadCount(), bytesStreamed,
                copyNanos, steps, cpuNanos, cpuWaitNanos);
    }

    @Override
    public void close() {
        try {
            if (streams()) {
                cuStreamSynchronize(copyStream);
            }
        } catch (RuntimeException ignored) {
            // never created, or the context is already failing; free what can be freed
        }
        resident.close();
        for (CUdeviceptr p : deviceAllocations) {
            cuMemFree(p);
        }
        deviceAllocations.clear();
        for (Pointer p : hostAllocations) {
            cuMemFreeHost(p);
        }
        hostAllocations.clear();
        for (CUevent[] row : copyBegin) {
            destroy(row);
        }
        for (CUevent[] row : copyEnd) {
            destroy(row);
        }
        destroy(slotFree);
        destroy(hostStagingFree);
        if (copyStream != null && streams()) {
            try {
                cuStreamDestroy(copyStream);
            } catch (RuntimeException ignored) {
                // never created
            }
        }
    }

    private static void destroy(CUevent[] events) {
        if (events == null) {
            return;
        }
        for (int i = 0; i < events.length; i++) {
            if (events[i] != null) {
                cuEventDestroy(events[i]);
                events[i] = null;
            }
        }
    }
}

package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static jcuda.driver.JCudaDriver.cuStreamWaitEvent;

import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceWeights;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUevent_flags;
import jcuda.driver.CUstream;
import jcuda.driver.CUstream_flags;

/**
 * Streaming on one GPU: staging slots in device memory, a copy stream of its own, pinned host copies of streamed
 * units (filled once, at creation, by parallel copies from the file mapping), two pinned staging buffers for units
 * beyond the pinned budget (gathered from the mapping at every copy), and the events that order copies against the
 * compute stream. A copy into a slot waits for the mark recorded after the compute that last read the slot; a unit's
 * compute waits for the event recorded after its copy; a streaming ring's copies are timed with events.
 *
 * <p>Marks: each {@link #slotsUsed} records one event on the compute stream (from a ring of {@value #MARKS}) and
 * remembers its serial for the slots it names. A copy into a slot waits for that event, unless the compute stream was
 * seen idle since ({@link #computeIdle}: an expert block's routing read synchronises it), in which case there is
 * nothing to wait for. A mark event re-recorded by a later pass makes such a wait longer, never shorter.
 */
final class CudaCopyRing implements CopyRing {

    /** Mark events in the ring: a slot's reader is rarely further back than this (a wait on a reused one is longer). */
    private static final int MARKS = 64;

    private final CudaUnitLayout[] units;
    private final CUstream compute;
    private final boolean timed;
    private final CUstream copyStream = new CUstream();
    private final CudaBuffer[] slots;
    private final CUevent[] marks = new CUevent[MARKS];
    private long markSerial;                 // marks recorded so far
    private long idleThrough;                // marks whose compute is known to be done
    private final long[] slotReader;         // per slot: the mark after the compute that last read it, 0 = none
    private final CUevent[] copyBegin;
    private final CUevent[] copyEnd;
    private final Pointer[] pinned;          // per unit: pinned host copy, or null
    private final long pinnedBytes;
    private final Pointer[] hostStaging;     // pinned staging for streamed units not in pinned memory
    private final CUevent[] hostStagingFree;
    private int nextHostStaging;
    private final long slotBytes;
    private final List<Pointer> hostAllocations = new ArrayList<>();
    private final float[] elapsedMs = new float[1];
    private boolean streamCreated;
    /** The slots' one allocation when they are contiguous (an expert pool), else null. */
    private CUdeviceptr pool;

    CudaCopyRing(CudaUnitLayout[] units, boolean[] streamed, boolean[] pin, int slotCount, long slotBytes, int tickets,
                 CUstream compute) {
        this(units, streamed, pin, slotCount, slotBytes, tickets, compute, false);
    }

    /**
     * {@code contiguous}: the slots are one allocation, slot s at {@code s × slotBytes} from {@link #base()} (an expert
     * pool, whose kernels address an expert by its slot number; its copies are not timed, which spares an event
     * record per copy on the decode step's critical path).
     */
    CudaCopyRing(CudaUnitLayout[] units, boolean[] streamed, boolean[] pin, int slotCount, long slotBytes, int tickets,
                 CUstream compute, boolean contiguous) {
        this.units = units;
        this.compute = compute;
        this.timed = !contiguous;
        this.slotBytes = slotBytes;
        this.slots = new CudaBuffer[slotCount];
        this.slotReader = new long[slotCount];
        this.copyBegin = new CUevent[timed ? tickets : 0];
        this.copyEnd = new CUevent[tickets];
        this.pinned = new Pointer[units.length];
        boolean staged = false;
        try {
            long pinnedSoFar = 0;
            for (int u = 0; u < units.length; u++) {
                if (streamed[u] && pin[u]) {
                    Pointer host = new Pointer();
                    CudaMemory.allocHost(host, units[u].bytes(), 0, "a streamed unit's pinned copy");
                    hostAllocations.add(host);
                    gather(units[u], host);
                    pinned[u] = host;
                    pinnedSoFar += units[u].bytes();
                }
                staged |= streamed[u] && !pin[u];
            }
            this.pinnedBytes = pinnedSoFar;
            this.hostStaging = new Pointer[staged ? 2 : 0];
            this.hostStagingFree = new CUevent[hostStaging.length];
            for (int i = 0; i < hostStaging.length; i++) {
                hostStaging[i] = new Pointer();
                cuMemHostAlloc(hostStaging[i], slotBytes, 0);
                hostAllocations.add(hostStaging[i]);
                hostStagingFree[i] = event(false);
            }
            if (contiguous) {
                pool = new CUdeviceptr();
                CudaMemory.alloc(pool, slotCount * slotBytes + CudaKernels.PADDING, "the GPU",
                        "the expert slots (" + slotCount + " of " + slotBytes + " bytes)");
                // slots never copied into (or holding another block's format) must decode to finite numbers
                jcuda.driver.JCudaDriver.cuMemsetD8(pool, (byte) 0, slotCount * slotBytes + CudaKernels.PADDING);
            }
            for (int s = 0; s < slotCount; s++) {
                CUdeviceptr p = new CUdeviceptr();
                if (contiguous) {
                    p = pool.withByteOffset(s * slotBytes);
                } else {
                    CudaMemory.alloc(p, slotBytes, "the GPU", "a staging slot of the copy ring");
                }
                slots[s] = new CudaBuffer(p, slotBytes, false);
            }
            for (int m = 0; m < MARKS; m++) {
                marks[m] = event(false);
            }
            for (int t = 0; t < tickets; t++) {
                if (timed) {
                    copyBegin[t] = event(true);
                }
                copyEnd[t] = event(timed);
            }
            cuStreamCreate(copyStream, CUstream_flags.CU_STREAM_NON_BLOCKING);
            streamCreated = true;
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

    /** Copies a unit's matrices from the file mapping into host memory at {@code host}, in parallel 16 MiB pieces. */
    private static void gather(CudaUnitLayout unit, Pointer host) {
        MemorySegment dst = MemorySegment.ofAddress(MemorySegment.ofBuffer(host.getByteBuffer(0, 1)).address())
                .reinterpret(unit.bytes());
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

    /** Bytes of one slot. */
    long bytesPerSlot() {
        return slotBytes;
    }

    /** The first slot's address of a contiguous ring. */
    CUdeviceptr base() {
        if (pool == null) {
            throw new IllegalStateException("the slots of this ring are not contiguous");
        }
        return pool;
    }

    @Override
    public DeviceWeights slot(int s) {
        return slots[s];
    }

    @Override
    public void copy(int unit, int slot, int ticket) {
        CudaUnitLayout layout = units[unit];
        long reader = slotReader[slot];
        if (reader > idleThrough) {
            cuStreamWaitEvent(copyStream, marks[(int) (reader % MARKS)], 0);
        }
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
        if (timed) {
            cuEventRecord(copyBegin[ticket], copyStream);
        }
        cuMemcpyHtoDAsync(slots[slot].ptr(), source, layout.bytes(), copyStream);
        cuEventRecord(copyEnd[ticket], copyStream);
        if (staging >= 0) {
            cuEventRecord(hostStagingFree[staging], copyStream);
        }
    }

    @Override
    public void awaitCopy(int ticket) {
        cuStreamWaitEvent(compute, copyEnd[ticket], 0);
    }

    @Override
    public void slotUsed(int slot) {
        slotReader[slot] = mark();
    }

    @Override
    public void slotsUsed(int[] used, int count) {
        if (count > 0) {
            long m = mark();
            for (int i = 0; i < count; i++) {
                slotReader[used[i]] = m;
            }
        }
    }

    private long mark() {
        long m = ++markSerial;
        cuEventRecord(marks[(int) (m % MARKS)], compute);
        return m;
    }

    /** The compute stream has run everything enqueued so far (the caller synchronised it): no slot has a reader. */
    void computeIdle() {
        idleThrough = markSerial;
    }

    @Override
    public long copyNanos(int ticket) {
        if (!timed) {
            throw new IllegalStateException("the copies of an expert pool are not timed");
        }
        cuEventElapsedTime(elapsedMs, copyBegin[ticket], copyEnd[ticket]);
        return (long) (elapsedMs[0] * 1e6);
    }

    @Override
    public void drain() {
        if (streamCreated) {
            cuStreamSynchronize(copyStream);
        }
    }

    @Override
    public long pinnedBytes() {
        return pinnedBytes;
    }

    @Override
    public long slotBytes() {
        return slots.length * slotBytes;
    }

    @Override
    public void close() {
        try {
            drain();
        } catch (RuntimeException ignored) {
            // the context is already failing; free what can be freed
        }
        if (pool != null) {
            cuMemFree(pool);
            pool = null;
        } else {
            for (CudaBuffer s : slots) {
                if (s != null) {
                    cuMemFree(s.ptr());
                }
            }
        }
        java.util.Arrays.fill(slots, null);
        for (Pointer p : hostAllocations) {
            cuMemFreeHost(p);
        }
        hostAllocations.clear();
        destroy(copyBegin);
        destroy(copyEnd);
        destroy(marks);
        destroy(hostStagingFree);
        if (streamCreated) {
            streamCreated = false;
            cuStreamDestroy(copyStream);
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

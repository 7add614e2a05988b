package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import java.util.Locale;
import java.util.function.LongSupplier;

/**
 * Whether the next request's KV cache fits in the memory for KV caches, for an engine whose number of running requests
 * is automatic. A request's cache holds the positions it can reach (its prompt and max tokens,
 * {@link Sequence#limit()}), so how many requests fit depends on the requests, not on a count of whole-context caches
 * fixed at start: short requests run many at a time, long ones fewer. The scheduler asks before admitting each request
 * while others run; when it does not fit, kept conversations are dropped from the prefix cache (oldest first) until it
 * does, and otherwise the request waits for running ones to finish. Two kinds:
 * <ul>
 *   <li>{@link #onDevice}: caches in device memory, measured by the driver's free-memory query beside a margin. A
 *   request without max tokens starts with a smaller cache that grows as it goes ({@link KvGrowth}: a larger cache
 *   replaces it; others are suspended, and computed again later, when memory runs short);</li>
 *   <li>{@link #onHeap}: caches on the Java heap, within the heap's KV budget ({@link MemoryPlan#heapKvBudget}), less
 *   the positions reserved for the running caches and what the kept ones hold, as the scheduler counts them
 *   ({@link #meter}). A CPU cache takes its memory page by page as it is written, so every cache is made for its
 *   request's whole limit and only the reservation grows: a request without max tokens reserves its prompt and a first
 *   reply, and more as it goes ({@link KvGrowth}, suspending others where the budget runs short).</li>
 * </ul>
 * Asked once per admission and per growth, never per token.
 */
final class MemoryAdmission {

    private final long bytesPerPosition;
    private final long marginBytes;
    private final boolean onHeap;
    /** Bytes free for KV caches now (negative: unknown, anything fits). */
    private LongSupplier free;
    private final long heapBudget;

    private MemoryAdmission(LongSupplier free, long bytesPerPosition, long marginBytes, boolean onHeap,
                            long heapBudget) {
        this.free = free;
        this.bytesPerPosition = bytesPerPosition;
        this.marginBytes = marginBytes;
        this.onHeap = onHeap;
        this.heapBudget = heapBudget;
    }

    /**
     * KV caches in the device memory of {@code pass}.
     *
     * @param bytesPerPosition a KV cache's device bytes per position (an upper bound: sliding-window rings take less)
     * @param marginBytes      device memory left free for everything else (graphs, the driver)
     */
    static MemoryAdmission onDevice(ForwardPass pass, long bytesPerPosition, long marginBytes) {
        return new MemoryAdmission(pass::freeDeviceMemory, bytesPerPosition, marginBytes, false, 0);
    }

    /**
     * KV caches on the Java heap within {@code budget} bytes; the scheduler says what its caches take ({@link #meter}).
     *
     * @param bytesPerPosition a KV cache's bytes per position on the heap
     */
    static MemoryAdmission onHeap(long budget, long bytesPerPosition) {
        return new MemoryAdmission(() -> budget, bytesPerPosition, 0, true, budget);
    }

    /**
     * For {@link #onHeap}: {@code inUse} gives the bytes the KV caches take now (the running ones' reservations, the
     * kept ones' held bytes); what is free is the budget less that. Called once, by the scheduler that keeps those
     * counts.
     */
    void meter(LongSupplier inUse) {
        if (!onHeap) {
            throw new IllegalStateException("device memory is measured by the device");
        }
        this.free = () -> heapBudget - inUse.getAsLong();
    }

    /** Whether a KV cache of {@code capacity} positions fits in the memory free now, beside the margin. */
    boolean fits(int capacity) {
        long now = free.getAsLong();
        if (!onHeap && now < 0) {
            return true; // a device that does not say what is free
        }
        return now - marginBytes >= bytesPerPosition * capacity;
    }

    /**
     * Whether the caches live on the Java heap ({@link #onHeap}): each is made for its request's limit and a
     * reservation of positions is what grows; else a growing request's cache is replaced by a larger one.
     */
    boolean onJavaHeap() {
        return onHeap;
    }

    /**
     * The bytes counted for a running request's KV cache {@code cache} that reserves {@code positions}: on the heap what
     * the cache holds once it holds them (its sliding-window rings, made whole at once, and the pages of those
     * positions), else the cache's own bytes.
     */
    long reservedBytes(KvCache cache, int positions) {
        return onHeap ? cache.bytesHolding(positions) : cache.byteSize();
    }

    /** For the memory report: what decides admission. */
    String describe() {
        if (!onHeap) {
            return String.format(Locale.ROOT, "each admitted while the GPU's free memory holds its KV cache (its"
                    + " prompt and max tokens, or without max tokens its prompt and a first reply, grown later; %d KiB a"
                    + " position) beside a %d MiB margin; kept conversations are dropped to make room",
                    bytesPerPosition >> 10, marginBytes >> 20);
        }
        return String.format(Locale.ROOT, "each admitted while the Java heap's %d MiB for KV caches holds its KV cache"
                + " (its prompt and max tokens, or without max tokens its prompt and a first reply, reserved further as it"
                + " goes; %d KiB a position, taken page by page as it is written) beside the running and kept ones; kept"
                + " conversations are dropped to make room", heapBudget >> 20, bytesPerPosition >> 10);
    }
}

package io.offload4j.offload;

import io.offload4j.backend.CopyRing;

/**
 * The GPU expert pool's slots as {@link ExpertTier} hands them out: which are free, which the cache let go while a
 * pass was being prepared, which the pass being prepared reads, and which copy last went into each.
 *
 * <p>Three rules keep a slot from being overwritten while something still reads it:
 * <ul>
 *   <li>a slot the cache evicts (or refuses) is <em>pending</em> until the pass being prepared has been enqueued
 *       ({@link #releasePending}): that pass may still read it;</li>
 *   <li>a copy into a slot waits on the device for the last compute that read it ({@link CopyRing#slotsUsed}, marked
 *       once per pass by {@link #passEnqueued});</li>
 *   <li>a pass waits for the newest copy among the slots it reads ({@link #awaitCopiesRead}): copies land in order,
 *       so one wait covers them all.</li>
 * </ul>
 * Nothing here allocates after construction.
 */
final class ExpertSlots {

    private final CopyRing pool;
    private final int[] free;            // a stack of free slot numbers
    private int freeCount;
    private final int[] pending;         // released while the current pass has not yet been enqueued
    private int pendingCount;
    private final boolean[] readInPass;  // per slot
    private final int[] read;            // the slots the pass being prepared reads
    private int readCount;
    private int newestCopyRead = -1;     // among those, the one whose copy was issued last and not yet waited for
    private final long[] copySerial;     // per slot: the serial of the last copy into it
    private long copiesIssued;
    private long copiesAwaited;          // the compute stream waits for every copy up to this serial
    private final long[] lastReadRun;    // per slot: the run (block of a step) whose passes last read it
    private long bytesCopied;

    ExpertSlots(CopyRing pool, int slotCount) {
        this.pool = pool;
        this.free = new int[slotCount];
        for (int s = 0; s < slotCount; s++) {
            free[freeCount++] = slotCount - 1 - s; // slot 0 on top
        }
        this.pending = new int[slotCount];
        this.readInPass = new boolean[slotCount];
        this.read = new int[slotCount];
        this.copySerial = new long[slotCount];
        this.lastReadRun = new long[slotCount];
    }

    int count() {
        return free.length;
    }

    int freeCount() {
        return freeCount;
    }

    /** The free slot on top of the stack, taken. */
    int take() {
        return free[--freeCount];
    }

    /** A slot nothing reads or will read (a staged expert its block did not choose): free at once. */
    void free(int slot) {
        free[freeCount++] = slot;
    }

    /** A slot the cache let go: free once the pass being prepared has been enqueued. */
    void release(int slot) {
        pending[pendingCount++] = slot;
    }

    /** The pass being prepared has been enqueued (or none is): the released slots are free. */
    void releasePending() {
        while (pendingCount > 0) {
            free[freeCount++] = pending[--pendingCount];
        }
    }

    /** Copies pool unit {@code unit} ({@code bytes} long) into {@code slot} on the copy stream. */
    void copy(int unit, int slot, long bytes) {
        pool.copy(unit, slot, slot); // the ticket is the slot: a pass reading it waits
        copySerial[slot] = ++copiesIssued;
        bytesCopied += bytes;
    }

    /** The pass being prepared (of run {@code run}) reads {@code slot}. */
    void read(int slot, long run) {
        lastReadRun[slot] = run;
        if (readInPass[slot]) {
            return;
        }
        readInPass[slot] = true;
        read[readCount++] = slot;
        if (copySerial[slot] > copiesAwaited
                && (newestCopyRead < 0 || copySerial[slot] > copySerial[newestCopyRead])) {
            newestCopyRead = slot;
        }
    }

    /** Before the pass is enqueued: the compute stream waits for the copies into the slots it reads. */
    void awaitCopiesRead() {
        if (newestCopyRead >= 0) {
            pool.awaitCopy(newestCopyRead);
            copiesAwaited = copySerial[newestCopyRead];
            newestCopyRead = -1;
        }
    }

    /** After the pass is enqueued: one mark for all the slots it read, then its released slots are free. */
    void passEnqueued() {
        pool.slotsUsed(read, readCount);
        while (readCount > 0) {
            readInPass[read[--readCount]] = false;
        }
        releasePending();
    }

    /**
     * Moves up to {@code want} free slots that run {@code run} did not read to the top of the stack, so they are
     * taken first: a copy into a slot this run read waits for its compute, and the copy stream runs its copies in
     * order, so every copy behind such a one would wait too.
     */
    void preferUnreadBy(long run, int want) {
        int top = freeCount;
        for (int i = freeCount - 1; i >= 0 && top > freeCount - want; i--) {
            if (lastReadRun[free[i]] != run) {
                int t = free[--top];
                free[top] = free[i];
                free[i] = t;
            }
        }
    }

    /** After a failed step: the copies in flight land, and nothing is marked read or pending any more. */
    void reset() {
        pool.drain();
        copiesAwaited = copiesIssued; // landed
        newestCopyRead = -1;
        while (readCount > 0) {
            readInPass[read[--readCount]] = false;
        }
        releasePending();
    }

    /** Whether no pass is being prepared and nothing waits to be released. */
    boolean settled() {
        return pendingCount == 0 && readCount == 0;
    }

    long bytesCopied() {
        return bytesCopied;
    }
}

package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import java.util.ArrayList;
import java.util.Deque;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * KV caches that grow, for an engine that admits requests by the memory for KV caches ({@link MemoryAdmission}). A
 * request without max tokens may run to the end of the context, but it mostly stops far earlier: holding the whole
 * context for it from the start would keep others waiting for memory it never uses. Its cache therefore starts with
 * its prompt and {@link #FIRST_REPLY_ROOM} positions ({@link Sequence#admissionCapacity}), and before a decode step
 * that would need more, it doubles (at most to the sequence's limit): in device memory the positions held are copied
 * into a larger cache ({@link KvCache#copyPrefix}, device to device on a GPU), or, where the two caches cannot copy (a
 * sliding-window ring of another size), computed again in it; on the Java heap ({@link MemoryAdmission#onHeap}) the
 * cache was made for the whole limit and takes pages only as it writes them, so only its reservation
 * ({@link Sequence#reservedPositions()}) doubles.
 *
 * <p>Where the free memory cannot hold the larger cache, kept conversations are dropped from the prefix cache first,
 * then the most recently admitted other decoding sequences are suspended ({@link Sequence#suspend}: their caches freed,
 * their state kept) until it can; they wait at the head of the line and, once admitted again, compute their tokens so
 * far again and decode on, with the output they would have given without the pause. A sequence that cannot have both
 * caches at once with nothing left to suspend frees its old cache first and computes its positions again in the
 * larger one (as a request larger than the free memory is admitted alone, the allocation then says whether that
 * fits). Requests with max tokens hold all their positions from the start and never grow, but may be suspended for one
 * that does.
 *
 * <p>Runs on the scheduler thread, before each decode step; a step where nothing needs to grow costs one comparison per
 * sequence.
 */
final class KvGrowth {

    /** Positions after the prompt that a growable request's first cache holds. */
    static final int FIRST_REPLY_ROOM = 256;

    private final ForwardPass pass;
    private final MemoryAdmission admission;
    private final PrefixCache prefixCache;
    private final SpeculativeDecoding speculation;
    private final AtomicLong runningKvBytes;
    private final AtomicInteger runningCount;
    private final boolean reserves;
    private final AtomicLong growths = new AtomicLong();
    private final AtomicLong suspensions = new AtomicLong();

    /**
     * @param runningKvBytes the scheduler's count of the running sequences' reserved bytes (kept up to date here)
     * @param runningCount   the scheduler's count of running sequences (suspended ones leave it)
     */
    KvGrowth(ForwardPass pass, MemoryAdmission admission, PrefixCache prefixCache, SpeculativeDecoding speculation,
             AtomicLong runningKvBytes, AtomicInteger runningCount) {
        this.pass = pass;
        this.admission = admission;
        this.prefixCache = prefixCache;
        this.speculation = speculation;
        this.runningKvBytes = runningKvBytes;
        this.runningCount = runningCount;
        this.reserves = admission.onJavaHeap();
    }

    /**
     * Gives every decoding sequence of {@code running} whose cache lacks room for its next step (its last token and
     * the most drafts a step makes) a larger one, suspending others into {@code suspended} (at its head) where memory
     * requires. A sequence whose allocation fails is returned, with the error in {@code failure}[0], for the caller to
     * fail; null when all went well.
     */
    Sequence beforeDecode(ArrayList<Sequence> running, Deque<Sequence> suspended, Throwable[] failure) {
        int draftRows = speculation == null ? 0 : speculation.maxDraft();
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.inPrefill()) {
                continue;
            }
            int capacity = reserves ? s.reservedPositions() : s.cache().capacity();
            int need = (int) Math.min(s.limit(), (long) s.length() + draftRows);
            if (capacity >= need) {
                continue;
            }
            int target = (int) Math.min(s.limit(), Math.max(2L * capacity, need));
            if (reserves) {
                makeMemory(s, target - capacity, running, suspended); // short of it, s alone goes on (as admitted)
                runningKvBytes.addAndGet(s.reserve(target, admission.reservedBytes(s.cache(), target)));
                growths.incrementAndGet();
                i = running.indexOf(s);
                continue;
            }
            boolean besideOld = makeMemory(s, target, running, suspended);
            try {
                grow(s, target, besideOld);
            } catch (RuntimeException | OutOfMemoryError e) {
                failure[0] = e;
                return s;
            }
            i = running.indexOf(s); // suspended sequences before it have left the list
        }
        return null;
    }

    /** Growths so far (for the memory report). */
    long growths() {
        return growths.get();
    }

    /** Suspensions so far (for the memory report). */
    long suspensions() {
        return suspensions.get();
    }

    /**
     * Until the free memory holds {@code positions} more: drops kept conversations, then suspends others. Returns
     * whether it does (false: {@code s} runs alone, or beside sequences still in prefill, and its old cache takes the
     * memory the larger one needs).
     */
    private boolean makeMemory(Sequence s, int positions, ArrayList<Sequence> running, Deque<Sequence> suspended) {
        while (!admission.fits(positions)) {
            if (prefixCache.dropOldest()) {
                continue;
            }
            Sequence victim = youngestOtherDecoding(running, s);
            if (victim == null) {
                return false;
            }
            running.remove(victim);
            runningCount.decrementAndGet();
            runningKvBytes.addAndGet(victim.reserve(0, 0));
            victim.suspend().close();
            suspended.addFirst(victim);
            suspensions.incrementAndGet();
        }
        return true;
    }

    /** The most recently admitted decoding sequence of {@code running} other than {@code s}, or null. */
    private static Sequence youngestOtherDecoding(ArrayList<Sequence> running, Sequence s) {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence other = running.get(i);
            if (other != s && !other.inPrefill() && other.finishReason() == null) {
                return other;
            }
        }
        return null;
    }

    /**
     * {@code s}'s cache replaced by one of {@code target} positions: a copy where the memory holds both
     * ({@code besideOld}) and the caches can copy, else its positions computed again in the larger cache, the old one
     * freed first (so that the two never need memory at once).
     */
    private void grow(Sequence s, int target, boolean besideOld) {
        if (besideOld) {
            KvCache old = s.cache();
            KvCache larger = pass.newKvCache(target);
            if (larger.canCopyPrefix(old)) {
                try {
                    larger.copyPrefix(old, s.cachedLength());
                } catch (RuntimeException | Error e) {
                    larger.close();
                    throw e;
                }
                if (s.speculation != null) {
                    s.speculation.close(); // a draft model's cache is sized like the sequence's: it starts again
                }
                s.grown(larger);
                old.close();
                grown(s);
                return;
            }
            larger.close();
        }
        runningKvBytes.addAndGet(s.reserve(0, 0)); // counted again once the larger cache is there
        s.suspend().close(); // the positions it held are computed again in the larger cache
        s.resume(pass.newKvCache(target));
        grown(s);
    }

    /** {@code s}'s larger cache in place: counted as its reservation, its drafter started again. */
    private void grown(Sequence s) {
        KvCache cache = s.cache();
        runningKvBytes.addAndGet(s.reserve(cache.capacity(), admission.reservedBytes(cache, cache.capacity())));
        if (speculation != null) {
            s.speculation = speculation.open(cache.capacity());
        }
        growths.incrementAndGet();
    }
}

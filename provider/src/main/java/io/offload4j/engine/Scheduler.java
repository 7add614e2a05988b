package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.engine.speculative.SpeculativeCounters;
import io.offload4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.concurrent.ConcurrentLinkedDeque;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The thread that owns the forward pass. Requests wait in a FIFO queue; up to {@code maxSequences} of them run
 * at once. Each round, every running sequence advances by one step (continuous batching):
 * <ol>
 *   <li>all sequences past their prompt decode their next token together, in <em>one</em>
 *       {@link ForwardPass#forwardBatch} call, so a backend reads (or streams over PCIe) each weight once per step
 *       for the whole batch rather than once per sequence;</li>
 *   <li>then up to {@link #PREFILL_CHUNKS_PER_ROUND} prompt chunks run, for the sequences still in prefill in the
 *       order they were admitted: the first admitted prompt finishes first (its first token is not held back until
 *       every prompt that arrived with it is in), and the decoding sequences wait at most that many chunks for their
 *       next token. Before each chunk, a prefix that another running sequence has already computed is copied from
 *       its KV cache instead ({@link LivePrefixCopy}).</li>
 * </ol>
 * With speculative decoding on ({@link SpeculativeDecoding}), a decoding sequence that has drafts puts them into the
 * same step as rows after its last token (the backend checks them all in one pass) and may emit several tokens.
 * Requests admitted at the start of a round prefill in it and join the decode batch in the round after their
 * prompt is in; finished and cancelled sequences leave the batch at once. Each sequence has its own KV cache,
 * and the forward pass computes a sequence's step from its cache and token alone, so batching does not change
 * any sequence's logits beyond float rounding (a batched step sums in a different order than a single-token
 * one): greedy outputs equal those of the same requests run one after another.
 *
 * <p>Admission takes a KV cache from the {@link PrefixCache} when one starts with the prompt's tokens, else
 * allocates one (holding the positions the request can reach; with {@link MemoryAdmission} on a device, a request
 * without max tokens starts smaller and its cache grows, others' being suspended where memory requires:
 * {@link KvGrowth}); a
 * sequence that ends normally gives its cache back to the prefix cache, one that is cancelled or fails closes it. A
 * failing forward call fails the sequences it computed (for a decode step, the whole batch); a throwing listener fails
 * only its own sequence.
 *
 * <p>The per-token loop allocates nothing of its own: the batch arrays are sized for {@code maxSequences} here
 * and reused every round (a sequence's step allocates only the text it emits).
 */
final class Scheduler implements Runnable {

    private final ForwardPass pass;
    private final Tokenizer tokenizer;
    private final int contextLength;
    private final int maxSequences;
    private final PrefixCache prefixCache;
    private final LivePrefixCopy livePrefixes;
    private final Runnable onExit;
    private final String modelName;
    private final LinkedBlockingQueue<Sequence> queue = new LinkedBlockingQueue<>();
    private final ArrayList<Sequence> running = new ArrayList<>();
    /**
     * Sequences suspended to make room for another's growing cache: admitted again before anything else. Concurrent
     * only so that {@link #stats} may count it from another thread.
     */
    private final ConcurrentLinkedDeque<Sequence> suspended = new ConcurrentLinkedDeque<>();
    private final Sequence wakeUp;
    /** Admission by the memory for KV caches, or null: a fixed number of sequences. */
    private final MemoryAdmission admission;
    /** Growing KV caches (with {@link #admission}), or null: every cache holds its request's limit from the start. */
    private final KvGrowth growth;
    private final Throwable[] growthFailure = new Throwable[1];
    /** A request taken from the queue that did not fit the memory for KV caches yet: the next to admit. */
    private volatile Sequence waiting;
    private final Thread thread;
    private final AtomicInteger runningCount = new AtomicInteger();
    private final AtomicLong runningKvBytes = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong promptTokens = new AtomicLong();
    private final AtomicLong generatedTokens = new AtomicLong();
    private final AtomicLong decodeTokens = new AtomicLong();
    private final AtomicLong prefillNanos = new AtomicLong();
    private final AtomicLong decodeNanos = new AtomicLong();
    private volatile boolean closing;

    // The decode step of the current round, reused every round: batch[b] is its b-th sequence; the other arrays are
    // per row (a sequence's one row, or with drafts its last token's and its drafts' rows, adjacent).
    private final Sequence[] batch;
    private final KvCache[] batchCaches;
    private final int[] batchTokens;
    private final int[] batchPositions;
    private final float[][] batchLogits;
    /** Speculative decoding, or null when off; the sequences of this round whose drafter failed. */
    private final SpeculativeDecoding speculation;
    private final Sequence[] draftFailed;
    private final SpeculativeCounters counters;

    /**
     * {@code speculation}: speculative decoding (its counters are {@code counters}), or null; {@code admission}: admit
     * by the memory for KV caches (at most {@code maxSequences} at once; on the heap metered here), or null.
     */
    Scheduler(ForwardPass pass, Tokenizer tokenizer, int contextLength, int maxSequences, long prefixCacheBytes,
              String name, Runnable onExit, SpeculativeDecoding speculation, SpeculativeCounters counters,
              MemoryAdmission admission) {
        this.admission = admission;
        this.speculation = speculation;
        this.draftFailed = new Sequence[maxSequences];
        this.counters = counters;
        this.pass = pass;
        this.tokenizer = tokenizer;
        this.contextLength = contextLength;
        this.maxSequences = maxSequences;
        int draftRows = speculation == null ? 0 : speculation.maxDraft(); // rows a verification may leave past the cache
        this.prefixCache = new PrefixCache(prefixCacheBytes, draftRows);
        this.livePrefixes = new LivePrefixCopy(prefixCache);
        this.onExit = onExit;
        this.modelName = name;
        this.growth = admission == null ? null
                : new KvGrowth(pass, admission, prefixCache, speculation, runningKvBytes, runningCount);
        if (admission != null && admission.onJavaHeap()) { // what the running caches reserve, what the kept ones hold
            admission.meter(() -> runningKvBytes.get() + prefixCache.bytes());
        }
        this.wakeUp = new Sequence(GenerationRequest.of(new int[] {0}, 1, SamplingParams.GREEDY), null, 2);
        this.thread = Thread.ofPlatform().name("offload4j-engine-" + name).daemon(true).unstarted(this);
        int stepRows = maxSequences + (speculation == null ? 0 : speculation.maxDraftRowsPerStep());
        this.batch = new Sequence[maxSequences];
        this.batchCaches = new KvCache[stepRows];
        this.batchTokens = new int[stepRows];
        this.batchPositions = new int[stepRows];
        this.batchLogits = new float[stepRows][];
    }

    void start() {
        thread.start();
    }

    boolean isSchedulerThread() {
        return Thread.currentThread() == thread;
    }

    /** Queues a sequence. */
    void submit(Sequence s) {
        if (closing) {
            throw new IllegalStateException("the engine is closed");
        }
        queue.add(s);
        if (closing && queue.remove(s)) { // closed meanwhile, and the scheduler did not see it
            throw new IllegalStateException("the engine is closed");
        }
    }

    /** Stops the thread after its current step; queued and running sequences fail. Waits unless called on it. */
    void shutdown() {
        closing = true;
        queue.add(wakeUp);
        if (!isSchedulerThread()) {
            boolean interrupted = false;
            while (thread.isAlive()) {
                try {
                    thread.join();
                } catch (InterruptedException e) {
                    interrupted = true;
                }
            }
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    @Override
    public void run() {
        try {
            while (!closing) {
                try {
                    round();
                } catch (RuntimeException | Error e) {
                    // Outside the guarded forward and listener calls (e.g. the heap ran out while finishing a
                    // sequence): the sequences of this round fail, the engine keeps serving the next requests.
                    failRunning(e);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            closing = true; // also when the loop died of an unexpected error: later submissions must fail, not hang
            IllegalStateException closed = new IllegalStateException("the engine was closed before this request"
                    + " finished");
            for (Sequence s : running) {
                fail(s, closed);
            }
            running.clear();
            runningCount.set(0);
            for (Sequence s; (s = suspended.poll()) != null; ) {
                fail(s, closed);
            }
            if (waiting != null) {
                fail(waiting, closed);
                waiting = null;
            }
            for (Sequence s; (s = queue.poll()) != null; ) {
                if (s != wakeUp) {
                    fail(s, closed);
                }
            }
            prefixCache.clear();
            onExit.run();
        }
    }

    /**
     * Admits what the queue holds (waiting when nothing runs), then advances every running sequence one step. With
     * {@link MemoryAdmission}, a request whose KV cache does not fit the memory free for KV caches now waits (first in
     * line) until running ones finish; one is always admitted when nothing runs.
     */
    private void round() throws InterruptedException {
        if (running.isEmpty()) {
            Sequence s = next(true);
            if (s != wakeUp) {
                roomFor(s); // nothing runs: admitted even where it does not fit (its allocation then says so)
                admit(s);
            }
        }
        while (running.size() < maxSequences && !closing) {
            Sequence s = next(false);
            if (s == null) {
                break;
            }
            if (s == wakeUp) {
                continue;
            }
            if (!roomFor(s)) {
                holdBack(s);
                break;
            }
            admit(s);
        }
        dropCancelled();
        growCaches();
        decodeStep();
        prefillSteps();
    }

    /** The next sequence to admit: a suspended one first, then the one held back, then the queue's next. */
    private Sequence next(boolean block) throws InterruptedException {
        Sequence s = suspended.poll();
        if (s != null) {
            return s;
        }
        s = waiting;
        waiting = null;
        if (s != null) {
            return s;
        }
        return block ? queue.take() : queue.poll();
    }

    /** {@code s} (from {@link #next}) waits, first in line, until memory frees. */
    private void holdBack(Sequence s) {
        if (s.resuming()) {
            suspended.addFirst(s);
        } else {
            waiting = s;
        }
    }

    /** Grows the caches that need room for the coming decode step ({@link KvGrowth}); a failed growth fails its own. */
    private void growCaches() {
        if (growth == null || closing) {
            return;
        }
        Sequence failed = growth.beforeDecode(running, suspended, growthFailure);
        if (failed != null) {
            Throwable error = growthFailure[0];
            growthFailure[0] = null;
            retire(running.indexOf(failed), error);
        }
    }

    /**
     * The positions reserved for {@code s} when admitted: its limit, or with {@link #growth} a growable start (on a
     * device its cache's capacity; on the heap its cache is made for its limit).
     */
    private int admissionCapacity(Sequence s) {
        return growth == null ? s.limit() : s.admissionCapacity(KvGrowth.FIRST_REPLY_ROOM);
    }

    /**
     * Whether {@code s} may be admitted now: always without {@link MemoryAdmission}; else when its KV cache fits the
     * memory free for KV caches, after dropping kept conversations (oldest first) until it does, or when nothing runs.
     */
    private boolean roomFor(Sequence s) {
        if (admission == null || s.generation.isCancelled()) {
            return true;
        }
        while (!admission.fits(admissionCapacity(s))) {
            if (!prefixCache.dropOldest()) {
                return running.isEmpty();
            }
        }
        return true;
    }

    /** Fails every running sequence with {@code error} (each only once: a sequence is removed before it fails). */
    private void failRunning(Throwable error) {
        clearBatch(maxSequences, batchCaches.length);
        while (!running.isEmpty()) {
            Sequence s = running.removeLast();
            runningCount.decrementAndGet();
            if (!s.generation.isDone()) {
                fail(s, error);
            }
        }
    }

    /** Ends the running sequences whose generation was cancelled (before their next forward call). */
    private void dropCancelled() {
        for (int i = 0; i < running.size() && !closing; ) {
            Sequence s = running.get(i);
            if (s.generation.isCancelled()) {
                s.cancel();
                retire(i, null);
            } else {
                i++;
            }
        }
    }

    /**
     * Decodes one token for every running sequence past its prompt, in one {@link ForwardPass#forwardBatch} call,
     * then samples and emits each one's token. With speculative decoding, a sequence that drafts puts its last token
     * and its drafts as consecutive rows into the same call (a mixed step) and may emit several tokens. The step's
     * time and tokens are counted once, as decode.
     */
    private void decodeStep() {
        if (closing) {
            return;
        }
        long t0 = System.nanoTime();
        int n = 0;
        for (int i = 0; i < running.size(); i++) {
            if (!running.get(i).inPrefill()) {
                n++;
            }
        }
        if (n == 0) {
            return;
        }
        if (speculation != null) {
            speculation.beginStep(n);
        }
        int sequences = 0;
        int rows = 0;
        int failed = 0;
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.inPrefill()) {
                continue;
            }
            int drafted = speculation == null ? 0 : speculation.draft(s);
            if (drafted < 0) {
                draftFailed[failed++] = s; // its drafter failed: it fails alone, after the step is built
                continue;
            }
            batch[sequences++] = s;
            int position = s.decodePosition();
            for (int r = 0; r <= drafted; r++) {
                batchCaches[rows] = s.cache();
                batchTokens[rows] = drafted == 0 ? s.decodeToken() : s.speculation.tokens[r];
                batchPositions[rows] = position + r;
                batchLogits[rows] = drafted == 0 ? s.logits() : s.speculation.rows[r];
                rows++;
            }
        }
        for (int f = 0; f < failed; f++) {
            Sequence s = draftFailed[f];
            draftFailed[f] = null;
            retire(running.indexOf(s), s.speculation.failure);
        }
        if (sequences > 0) {
            batchedDecode(sequences, rows, t0);
        }
    }

    /**
     * The decode step of the {@code n} sequences in {@link #batch}, {@code rows} rows in all: one forwardBatch call,
     * then each emits its tokens. {@code t0}: when the step began (its drafting included).
     */
    private void batchedDecode(int n, int rows, long t0) {
        long pass0 = System.nanoTime();
        int sampled = 0;
        int plain = 0;
        long passNanos;
        try {
            pass.forwardBatch(batchCaches, batchTokens, batchPositions, rows, batchLogits);
            passNanos = System.nanoTime() - pass0;
        } catch (RuntimeException | Error e) {
            for (int b = 0; b < n; b++) {
                retire(running.indexOf(batch[b]), e); // the step computed all of them: all fail with it
            }
            clearBatch(n, rows);
            decodeNanos.addAndGet(System.nanoTime() - t0);
            return;
        }
        if (speculation != null) {
            speculation.stepTook(n, rows, passNanos);
        }
        for (int b = 0; b < n && !closing; b++) {
            Sequence s = batch[b];
            if (s.generation.isCancelled()) { // cancelled meanwhile, e.g. by an earlier sequence's listener
                s.cancel();
                retire(running.indexOf(s), null);
                continue;
            }
            int before = s.generatedTokens();
            Throwable error = null;
            boolean done;
            try {
                if (speculation == null || s.speculation.drafted == 0) {
                    plain++;
                    done = s.acceptDecoded();
                } else {
                    done = speculation.accept(s, passNanos);
                }
            } catch (RuntimeException | Error e) {
                error = e;
                done = true;
            }
            sampled += s.generatedTokens() - before;
            if (done) {
                retire(running.indexOf(s), error);
            }
        }
        clearBatch(n, rows);
        decodeNanos.addAndGet(System.nanoTime() - t0);
        generatedTokens.addAndGet(sampled);
        decodeTokens.addAndGet(sampled);
        if (plain > 0) {
            counters.decoded(plain, passNanos);
        }
    }

    /** Drops the step's references, so that a finished sequence's buffers and KV cache are not kept reachable. */
    private void clearBatch(int n, int rows) {
        Arrays.fill(batch, 0, n, null);
        Arrays.fill(batchCaches, 0, rows, null);
        Arrays.fill(batchLogits, 0, rows, null);
    }

    /**
     * Prompt chunks a round runs at most. With one chunk for every prompt in prefill (before session 11), prompts that
     * arrived together advanced in lockstep and all got their first token at the end, together: 8 requests of 512
     * tokens on the 2-core build machine, time to first token p50 13.3 s, p99 14.2 s. Four chunks per round, first
     * admitted first: see the README's serving section.
     */
    static final int PREFILL_CHUNKS_PER_ROUND = 4;

    /**
     * Up to {@link #PREFILL_CHUNKS_PER_ROUND} prompt chunks, for the running sequences still in prefill in admission
     * order, each sequence's chunks one after another (cancellation checked just before each).
     */
    private void prefillSteps() {
        int chunks = 0;
        for (int i = 0; i < running.size() && !closing && chunks < PREFILL_CHUNKS_PER_ROUND; ) {
            Sequence s = running.get(i);
            if (!s.inPrefill()) {
                i++;
                continue;
            }
            Throwable error = null;
            boolean done;
            if (s.generation.isCancelled()) {
                s.cancel();
                done = true;
            } else {
                try {
                    chunks++;
                    if (!s.resuming()) { // a resumed sequence computes its own tokens again, prompt and reply
                        livePrefixes.before(s, running);
                    }
                    done = timedPrefill(s);
                } catch (RuntimeException | Error e) {
                    error = e;
                    done = true;
                }
            }
            if (done) {
                retire(i, error);
            } else if (!s.inPrefill()) {
                i++; // its prompt is in: it decodes from the next round on
            }
        }
    }

    /** One prompt chunk of {@code s}: its time and tokens counted as prefill, the first token as generated. */
    private boolean timedPrefill(Sequence s) {
        int prefilledBefore = s.prefilledTokens();
        int generatedBefore = s.generatedTokens();
        boolean recomputing = s.resuming();
        long t0 = System.nanoTime();
        try {
            return s.prefillStep(pass);
        } finally {
            prefillNanos.addAndGet(System.nanoTime() - t0);
            promptTokens.addAndGet(recomputing ? 0 : s.prefilledTokens() - prefilledBefore);
            generatedTokens.addAndGet(s.generatedTokens() - generatedBefore);
        }
    }

    /** Takes the sequence at {@code index} out of the running set, then completes it, or fails it with {@code error}. */
    private void retire(int index, Throwable error) {
        Sequence s = running.remove(index); // counted out before its caller can observe the end
        runningCount.decrementAndGet();
        try {
            if (error != null) {
                fail(s, error);
            } else {
                complete(s);
            }
        } catch (RuntimeException | Error e) { // e.g. the heap ran out while finishing it: it fails, nothing else
            if (!s.generation.isDone()) {
                fail(s, e);
            }
        }
    }

    private void admit(Sequence s) {
        if (s.generation.isCancelled()) {
            s.cancel();
            complete(s);
            return;
        }
        try {
            int reserve = admissionCapacity(s);
            int capacity = admission != null && admission.onJavaHeap() ? s.limit() : reserve;
            KvCache cache;
            if (s.resuming()) { // suspended for another's growing cache: it computes its tokens so far again
                cache = pass.newKvCache(capacity);
                reserve(s, cache, reserve);
                s.resume(cache);
            } else {
                // The most positions this request can reach (its prompt and max tokens, at most the context), not the
                // whole context (or, growable, its prompt and a first reply: KvGrowth): a kept conversation's next
                // turn that needs more gets its prefix copied into a larger cache (KvCaches.fitted).
                PrefixCache.Reuse reuse = KvCaches.fitted(prefixCache.take(s.prompt()), capacity, pass);
                cache = reuse != null ? reuse.cache() : pass.newKvCache(capacity);
                reserve(s, cache, reserve); // before start: a failing start releases (and subtracts) it
                s.start(cache, reuse != null ? reuse.length() : 0, tokenizer);
            }
            if (speculation != null) {
                s.speculation = speculation.open(cache.capacity());
            }
        } catch (RuntimeException | OutOfMemoryError e) {
            fail(s, e);
            return;
        }
        running.add(s);
        runningCount.incrementAndGet();
    }

    /** Counts {@code cache}, which reserves {@code positions} for {@code s}, in the running sequences' bytes. */
    private void reserve(Sequence s, KvCache cache, int positions) {
        long bytes = admission == null ? cache.byteSize() : admission.reservedBytes(cache, positions);
        runningKvBytes.addAndGet(s.reserve(positions, bytes));
    }

    /** Takes {@code s}'s cache away (closed, or kept by the caller) and out of the running sequences' bytes. */
    private KvCache unreserve(Sequence s) {
        KvCache cache = s.releaseCache();
        runningKvBytes.addAndGet(s.reserve(0, 0));
        return cache;
    }

    private void complete(Sequence s) {
        GenerationResult result;
        try {
            result = s.finish();
        } catch (RuntimeException | Error e) { // a listener threw on the last text
            fail(s, e);
            return;
        }
        KvCache cache = unreserve(s);
        if (cache != null) {
            if (result.finishReason() == FinishReason.CANCELLED) {
                cache.close();
            } else {
                prefixCache.put(s.cachedTokens(), s.prompt().length, cache);
            }
        }
        completed.incrementAndGet(); // counted before anyone can learn that it ended
        try {
            s.listener.onComplete(result);
        } catch (RuntimeException | Error e) {
            try {
                s.listener.onError(e);
            } catch (RuntimeException | Error ignored) {
                // the listener's own error handling failed; the result still stands
            }
        }
        s.generation.complete(result);
    }

    private void fail(Sequence s, Throwable cause) {
        Throwable error = EngineFailures.describe(cause, modelName);
        KvCache cache = unreserve(s);
        if (cache != null) {
            try {
                cache.close();
            } catch (RuntimeException ignored) {
                // freeing failed as well; the original error is what the caller needs
            }
        }
        completed.incrementAndGet();
        try {
            s.listener.onError(error);
        } catch (RuntimeException | Error ignored) {
            // ignored, as documented
        }
        s.generation.fail(error);
    }

    /**
     * For the memory report: how often growing KV caches grew and sequences were suspended for them so far (a
     * snapshot), or "" without {@link KvGrowth}.
     */
    String growthReport() {
        return growth == null ? "" : String.format(java.util.Locale.ROOT, "%n  engine KV caches of requests without"
                + " max tokens %s the prompt and %d positions and double as needed: grown %d times so far, %d"
                + " sequences suspended for memory (computed again when resumed)",
                admission.onJavaHeap() ? "reserve" : "start with", KvGrowth.FIRST_REPLY_ROOM, growth.growths(),
                growth.suspensions());
    }

    EngineStats stats() {
        int queued = (waiting != null ? 1 : 0) + suspended.size(); // read off the scheduler thread: a snapshot
        for (Sequence s : queue) {
            if (s != wakeUp) {
                queued++;
            }
        }
        return new EngineStats(queued, runningCount.get(), runningKvBytes.get(), prefixCache.size(),
                prefixCache.bytes(), prefixCache.hits(), prefixCache.misses(), prefixCache.reusedTokens(),
                prefixCache.evictions(), completed.get(), promptTokens.get(), generatedTokens.get(),
                decodeTokens.get(), prefillNanos.get(), decodeNanos.get(), counters.draftedTokens(),
                counters.acceptedTokens(), counters.verifications(), counters.targetPasses(),
                livePrefixes.copiedTokens());
    }
}

package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The thread that owns the forward pass. Requests wait in a FIFO queue; up to {@code maxSequences} of them
 * run at once and are advanced round-robin, one forward call each per round (a prefill chunk or one decode
 * token), so a long prompt does not stall the others' streams and a short request does not wait for a long
 * one to finish. Each sequence has its own KV cache, and the forward pass computes a sequence's step from
 * its cache and tokens alone, so interleaving does not change any sequence's logits: greedy outputs equal
 * those of the same requests run one after another.
 *
 * <p>Admission takes a KV cache from the {@link PrefixCache} when one starts with the prompt's tokens, else
 * allocates one; a sequence that ends normally gives its cache back to the prefix cache, one that is cancelled
 * or fails closes it.
 */
final class Scheduler implements Runnable {

    private final ForwardPass pass;
    private final Tokenizer tokenizer;
    private final int contextLength;
    private final int maxSequences;
    private final PrefixCache prefixCache;
    private final Runnable onExit;
    private final LinkedBlockingQueue<Sequence> queue = new LinkedBlockingQueue<>();
    private final ArrayList<Sequence> running = new ArrayList<>();
    private final Sequence wakeUp;
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

    Scheduler(ForwardPass pass, Tokenizer tokenizer, int contextLength, int maxSequences, long prefixCacheBytes,
              String name, Runnable onExit) {
        this.pass = pass;
        this.tokenizer = tokenizer;
        this.contextLength = contextLength;
        this.maxSequences = maxSequences;
        this.prefixCache = new PrefixCache(prefixCacheBytes);
        this.onExit = onExit;
        this.wakeUp = new Sequence(GenerationRequest.of(new int[] {0}, 1, SamplingParams.GREEDY), null, 2);
        this.thread = Thread.ofPlatform().name("offload4j-engine-" + name).daemon(true).unstarted(this);
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
                if (running.isEmpty()) {
                    Sequence s = queue.take();
                    if (s != wakeUp) {
                        admit(s);
                    }
                }
                while (running.size() < maxSequences && !closing) {
                    Sequence s = queue.poll();
                    if (s == null) {
                        break;
                    }
                    if (s != wakeUp) {
                        admit(s);
                    }
                }
                for (int i = 0; i < running.size() && !closing; ) {
                    Sequence s = running.get(i);
                    Throwable error = null;
                    boolean done;
                    if (s.generation.isCancelled()) {
                        s.cancel();
                        done = true;
                    } else {
                        try {
                            done = timedStep(s);
                        } catch (RuntimeException | Error e) {
                            error = e;
                            done = true;
                        }
                    }
                    if (!done) {
                        i++;
                        continue;
                    }
                    running.remove(i); // counted out before its caller can observe the end
                    runningCount.decrementAndGet();
                    if (error != null) {
                        fail(s, error);
                    } else {
                        complete(s);
                    }
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
            for (Sequence s; (s = queue.poll()) != null; ) {
                if (s != wakeUp) {
                    fail(s, closed);
                }
            }
            prefixCache.clear();
            onExit.run();
        }
    }

    /** One step of {@code s}, its time and tokens counted as prefill (a prompt chunk) or decode. */
    private boolean timedStep(Sequence s) {
        int prefilledBefore = s.prefilledTokens();
        int generatedBefore = s.generatedTokens();
        boolean prefill = prefilledBefore < s.prompt().length;
        long t0 = System.nanoTime();
        boolean done = s.step(pass);
        long elapsed = System.nanoTime() - t0;
        (prefill ? prefillNanos : decodeNanos).addAndGet(elapsed);
        promptTokens.addAndGet(s.prefilledTokens() - prefilledBefore);
        generatedTokens.addAndGet(s.generatedTokens() - generatedBefore);
        if (!prefill) {
            decodeTokens.addAndGet(s.generatedTokens() - generatedBefore);
        }
        return done;
    }

    private void admit(Sequence s) {
        if (s.generation.isCancelled()) {
            s.cancel();
            complete(s);
            return;
        }
        try {
            int capacity = prefixCache.enabled() ? contextLength : s.limit();
            PrefixCache.Reuse reuse = prefixCache.take(s.prompt(), capacity);
            KvCache cache = reuse != null ? reuse.cache() : pass.newKvCache(capacity);
            s.start(cache, reuse != null ? reuse.length() : 0, tokenizer);
            runningKvBytes.addAndGet(cache.byteSize());
        } catch (RuntimeException | OutOfMemoryError e) {
            fail(s, e);
            return;
        }
        running.add(s);
        runningCount.incrementAndGet();
    }

    private void complete(Sequence s) {
        GenerationResult result;
        try {
            result = s.finish();
        } catch (RuntimeException | Error e) { // a listener threw on the last text
            fail(s, e);
            return;
        }
        KvCache cache = s.releaseCache();
        if (cache != null) {
            runningKvBytes.addAndGet(-cache.byteSize());
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

    private void fail(Sequence s, Throwable error) {
        KvCache cache = s.releaseCache();
        if (cache != null) {
            runningKvBytes.addAndGet(-cache.byteSize());
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

    EngineStats stats() {
        int queued = 0;
        for (Sequence s : queue) {
            if (s != wakeUp) {
                queued++;
            }
        }
        return new EngineStats(queued, runningCount.get(), runningKvBytes.get(), prefixCache.size(),
                prefixCache.bytes(), prefixCache.hits(), prefixCache.misses(), prefixCache.reusedTokens(),
                prefixCache.evictions(), completed.get(), promptTokens.get(), generatedTokens.get(),
                decodeTokens.get(), prefillNanos.get(), decodeNanos.get());
    }
}

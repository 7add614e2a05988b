package io.offload4j.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed set of worker threads that split index ranges between them. Built for the per-token
 * loop: a {@link #run} call allocates nothing (tasks are long-lived objects, coordination is a few
 * volatile fields) and the calling thread works too. Workers spin briefly before parking, because
 * calls come back-to-back (dozens per token) and a park/unpark round trip costs more than the wait.
 */
public final class CpuThreadPool implements AutoCloseable {

    /** Work over {@code [start, end)}, run by worker {@code worker} (0 = the calling thread). */
    @FunctionalInterface
    public interface RangeTask {
        void run(int start, int end, int worker);
    }

    private static final long SPIN_NANOS = 50_000;

    private final Thread[] workers;
    private final int threads;
    private final AtomicInteger nextChunk = new AtomicInteger();
    private final AtomicInteger pending = new AtomicInteger();
    private volatile long generation;
    private volatile boolean closed;
    private volatile boolean spinning;
    private volatile Thread caller;
    // The current job; published by the volatile write of generation.
    private RangeTask task;
    private int size;
    private int chunk;
    private volatile Throwable failure;

    public CpuThreadPool(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("threads must be at least 1: " + threads);
        }
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            int index = i + 1;
            workers[i] = Thread.ofPlatform().daemon().name("offload4j-cpu-" + index).unstarted(() -> workLoop(index));
            workers[i].start();
        }
    }

    public int threads() {
        return threads;
    }

    /**
     * While on, idle workers spin without parking: for callers that alternate short runs with other work of a few
     * milliseconds (a GPU step with CPU blocks in it), where waking parked threads would delay every run.
     */
    public void keepSpinning(boolean on) {
        spinning = on;
    }

    /**
     * Runs {@code task} over {@code [0, size)} split into chunks of about {@code grain} indices and
     * returns when all are done. Not reentrant: one caller at a time.
     */
    public void run(int size, int grain, RangeTask task) {
        if (size <= 0) {
            return;
        }
        int g = Math.max(1, grain);
        if (threads == 1 || size <= g) {
            task.run(0, size, 0);
            return;
        }
        this.task = task;
        this.size = size;
        this.chunk = g;
        this.failure = null;
        this.caller = Thread.currentThread();
        nextChunk.set(0);
        pending.set(workers.length);
        generation++;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
        work(0);
        long spinUntil = System.nanoTime() + SPIN_NANOS;
        while (pending.get() > 0) {
            if (System.nanoTime() < spinUntil) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(this, 100_000);
            }
        }
        this.task = null;
        Throwable f = failure;
        if (f != null) {
            if (f instanceof RuntimeException r) {
                throw r;
            }
            if (f instanceof Error e) {
                throw e;
            }
            throw new IllegalStateException(f);
        }
    }

    /** Chunk size giving each thread several chunks (for balance) of at least {@code min} indices. */
    public int grainFor(int size, int min) {
        return Math.max(min, (size + threads * 4 - 1) / (threads * 4));
    }

    private void work(int worker) {
        RangeTask t = task;
        int n = size;
        int c = chunk;
        try {
            for (int start = nextChunk.getAndAdd(c); start < n; start = nextChunk.getAndAdd(c)) {
                t.run(start, Math.min(n, start + c), worker);
            }
        } catch (Throwable e) {
            failure = e;
            nextChunk.set(n);
        }
    }

    private void workLoop(int index) {
        long seen = 0;
        while (!closed) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (generation == seen && !closed) {
                if (spinning || System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    LockSupport.park(this);
                }
            }
            if (closed) {
                return;
            }
            seen = generation;
            work(index);
            if (pending.decrementAndGet() == 0) {
                LockSupport.unpark(caller);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}

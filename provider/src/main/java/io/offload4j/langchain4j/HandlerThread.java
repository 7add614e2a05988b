package io.offload4j.langchain4j;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The thread that calls one streaming request's handler: a virtual thread of its own, running the calls in the
 * order they were handed over, one at a time. The engine thread only queues calls here, so user code never runs
 * on it and a slow handler delays nobody else's tokens. Ends (the thread exits) after the queued calls once
 * {@link #end()} is called.
 */
final class HandlerThread {

    private static final AtomicLong IDS = new AtomicLong();

    private final ExecutorService executor = Executors.newSingleThreadExecutor(
            Thread.ofVirtual().name("offload4j-stream-handler-" + IDS.incrementAndGet()).factory());

    /** Queues a call (in order after the earlier ones); ignored once {@link #end()} was called. */
    void run(Runnable call) {
        try {
            executor.execute(call);
        } catch (RejectedExecutionException e) {
            // ended: the request is over, nothing more is delivered
        }
    }

    /** No more calls: the queued ones still run, then the thread exits. */
    void end() {
        executor.shutdown();
    }
}

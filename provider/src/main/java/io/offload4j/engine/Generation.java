package io.offload4j.engine;

import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * A submitted request: wait for it, or cancel it. Returned by {@link InferenceEngine#submit}.
 *
 * <p>{@link #cancel()} takes effect before the sequence's next forward call (at most one token, or one prefill
 * chunk, later); the sequence then ends with {@link FinishReason#CANCELLED}, its listener is not called again
 * except for {@link GenerationListener#onComplete}, and its KV cache is freed (it is not kept for prefix
 * reuse). Cancelling a request that still waits in the queue removes it without any work.
 */
public final class Generation {

    private final CompletableFuture<GenerationResult> future = new CompletableFuture<>();
    private volatile boolean cancelled;

    Generation() {}

    /** Asks the engine to stop this generation. Idempotent; has no effect once it has completed. */
    public void cancel() {
        cancelled = true;
    }

    /** True once {@link #cancel()} was called. */
    public boolean isCancelled() {
        return cancelled;
    }

    /** True once the generation has completed, normally or not. */
    public boolean isDone() {
        return future.isDone();
    }

    /**
     * Completes with the result (also when cancelled: then the finish reason is {@link FinishReason#CANCELLED}),
     * or exceptionally with what made the generation fail. Completed on the engine's thread, after the
     * listener's {@link GenerationListener#onComplete}/{@link GenerationListener#onError}.
     */
    public CompletableFuture<GenerationResult> result() {
        return future.copy();
    }

    /**
     * Waits for the result. If the waiting thread is interrupted, the generation is cancelled and the partial
     * result returned (the interrupt flag stays set).
     *
     * @throws RuntimeException what made the generation fail (an unchecked exception is rethrown as is)
     */
    public GenerationResult join() {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return future.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                    cancel();
                } catch (ExecutionException e) {
                    throw unwrap(e.getCause());
                } catch (CancellationException e) {
                    throw e;
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static RuntimeException unwrap(Throwable t) {
        if (t instanceof CompletionException && t.getCause() != null) {
            t = t.getCause();
        }
        if (t instanceof RuntimeException r) {
            return r;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new IllegalStateException("generation failed: " + t, t);
    }

    boolean complete(GenerationResult result) {
        return future.complete(result);
    }

    boolean fail(Throwable error) {
        return future.completeExceptionally(error);
    }
}

package io.offload4j.engine;

import io.offload4j.model.ModelConfig;
import java.nio.file.Path;

/**
 * The context length, the number of sequences run at once and the prefix cache's budget, checked against the
 * model and against the memory the process has, before anything is allocated.
 *
 * <p>Why: a KV cache is {@code context × bytesPerPosition} for each running sequence and each kept prefix; with
 * the CPU backend it lives on the Java heap, so a context or a sequence count the heap cannot hold used to end in
 * an {@link OutOfMemoryError} on the engine thread, or, for absurd contexts, in an overflowing array size. Here
 * those settings are refused (or, for the number of sequences, lowered) with a message that says what to change.
 *
 * @param contextLength       the context every sequence may reach
 * @param maxRunning          sequences run at once: the option, lowered to what the memory holds;
 *                            {@link EngineOptions#AUTO_SEQUENCES} for KV caches off the heap, which the engine
 *                            admits by the device memory free ({@link MemoryAdmission}); automatic on the heap, the
 *                            CPU's default, each request admitted while {@code heapKvBudget} holds its cache
 * @param prefixCacheBytes    the prefix cache's budget; {@link EngineOptions#AUTO_PREFIX_CACHE} left for KV caches
 *                            off the heap, which the engine sizes from a real one
 * @param bytesPerSequence    a full-context KV cache (estimate from the model's shape, fp32 as the CPU keeps it)
 * @param loweredFrom         the requested number of sequences when {@code maxRunning} had to be lower, else 0
 * @param heapKvBudget        with KV caches on the heap and the number of sequences automatic: the bytes the KV
 *                            caches, running and kept, may take (requests are admitted one by one within it); else 0
 */
record MemoryPlan(int contextLength, int maxRunning, long prefixCacheBytes, long bytesPerSequence, int loweredFrom,
                  long heapKvBudget) {

    /** Context positions a CPU array may hold per block: Java arrays end at 2^31 − 1 elements, less some padding. */
    static final long MAX_ARRAY_ELEMENTS = Integer.MAX_VALUE - 1024;

    /** Positions a KV cache may hold beyond its capacity: the padding that vector loads of the keys may read. */
    static final int PADDING_POSITIONS = 64;

    /** The share of the free heap that KV caches (running and kept) may take; the rest is for everything else. */
    static final double HEAP_SHARE_FOR_KV = 0.75;

    /** The share of that KV budget an {@code auto} prefix cache may take, so that sequences keep room to run. */
    static final double AUTO_PREFIX_SHARE = 0.25;

    /** What the process has: its heap limit and what is in use now (taken from {@link Runtime} in production). */
    record Heap(long max, long used) {
        static Heap now() {
            Runtime r = Runtime.getRuntime();
            return new Heap(r.maxMemory(), r.totalMemory() - r.freeMemory());
        }

        long free() {
            return Math.max(0, max - used);
        }
    }

    /**
     * Plans the engine's memory.
     *
     * @param kvOnHeap whether the backend keeps KV caches on the Java heap (the CPU backend); a GPU keeps them in
     *                 device memory, which its own budget governs, so only the array limits are checked then
     * @param threads  the CPU threads, each of which has attention scores as long as the context
     */
    static MemoryPlan of(Path model, ModelConfig config, EngineOptions options, boolean kvOnHeap, int threads,
                         Heap heap) {
        int trained = config.contextLength();
        int context = options.contextLength() > 0 ? options.contextLength()
                : Math.min(trained, EngineOptions.DEFAULT_MAX_CONTEXT);
        context = withinSlidingWindow(model, config, options, context);
        if (context > trained && !options.contextBeyondTraining()) {
            throw new IllegalArgumentException("context length " + context + " is more than the " + trained
                    + " tokens " + model.getFileName() + " was trained for, and past that a model's output degrades;"
                    + " lower the context length to at most " + trained + ", or, for a model whose positions were"
                    + " stretched for longer contexts (RoPE scaling), allow it explicitly (EngineOptions"
                    + ".withContextBeyondTraining(true), --context-beyond-training)");
        }
        long widest = Math.max((long) config.headCountKv() * config.headDim(),
                (long) config.headCountKv() * config.valueHeadDim());
        if (widest * context > MAX_ARRAY_ELEMENTS) {
            throw new IllegalArgumentException("context length " + context + " is too long for " + model.getFileName()
                    + ": one block's keys would hold " + widest * context + " values, more than a Java array holds ("
                    + MAX_ARRAY_ELEMENTS + "); lower the context length to at most " + MAX_ARRAY_ELEMENTS / widest);
        }
        long perPosition = bytesPerPosition(config);
        // < 2^31 · blocks · 8: no overflow after the check above
        long perSequence = sequenceBytes(config, context, options.chunkTokens());
        int requested = options.maxSequences() != EngineOptions.AUTO_SEQUENCES ? options.maxSequences()
                : kvOnHeap ? EngineOptions.DEFAULT_MAX_SEQUENCES : EngineOptions.AUTO_SEQUENCES;
        if (!kvOnHeap) { // device memory: the prefix cache is sized from the device's KV caches once they exist
            return new MemoryPlan(context, requested, options.prefixCacheBytes(), perSequence, 0, 0);
        }
        // The forward pass's attention scores (one row per thread, as long as the context) come first.
        long budget = Math.max(0,
                (long) (heap.free() * HEAP_SHARE_FOR_KV) - scratchBytesPerPosition(config, threads) * context);
        if (perSequence > budget) {
            throw new IllegalArgumentException("context length " + context + " needs " + mib(perSequence)
                    + " MiB of Java heap for one sequence's KV cache, but the heap has room for " + mib(budget)
                    + " MiB of KV caches (limit " + mib(heap.max()) + " MiB, set by -Xmx); lower the context length to"
                    + " at most " + Math.max(1, budget / perPosition) + " or give the JVM more heap (-Xmx)");
        }
        long prefix;
        if (options.prefixCacheBytes() == EngineOptions.AUTO_PREFIX_CACHE) {
            prefix = Math.min(2 * perSequence, (long) (budget * AUTO_PREFIX_SHARE));
        } else {
            prefix = options.prefixCacheBytes();
            if (prefix > budget - perSequence) {
                throw new IllegalArgumentException("a prefix cache of " + mib(prefix) + " MiB leaves no room on the"
                        + " Java heap for one sequence's KV cache of " + mib(perSequence) + " MiB (room for KV caches: "
                        + mib(budget) + " MiB, heap limit " + mib(heap.max()) + " MiB); lower the prefix cache (0 turns"
                        + " it off, auto sizes it from the heap), lower the context length, or raise -Xmx");
            }
        }
        if (options.maxSequences() == EngineOptions.AUTO_SEQUENCES) {
            // a request's cache holds its prompt and max tokens, not always the whole context: admitted one by one
            return new MemoryPlan(context, requested, prefix, perSequence, 0, budget);
        }
        int fits = (int) Math.min(Integer.MAX_VALUE, (budget - prefix) / perSequence);
        int running = Math.min(requested, Math.max(1, fits));
        return new MemoryPlan(context, running, prefix, perSequence, running < requested ? requested : 0, 0);
    }

    /**
     * A model trained with sliding-window attention whose windows the engine does not compute (Qwen's windowed
     * layers; Mistral's and Phi-3's are computed, see {@link ModelConfig#slidingWindow()}) computes exactly what
     * full attention computes while the context is no longer than its window; the engine attends to the whole
     * context, so a longer context is refused when asked for, and an automatic one is the window.
     */
    private static int withinSlidingWindow(Path model, ModelConfig config, EngineOptions options, int context) {
        int window = config.slidingWindow();
        if (window <= 0 || context <= window || config.traits().hasSlidingWindow()) {
            return context;
        }
        if (options.contextLength() <= 0) {
            return window;
        }
        throw new IllegalArgumentException("context length " + context + " is longer than the sliding window of "
                + window + " positions " + model.getFileName() + " attends to; sliding-window attention is not"
                + " implemented for this model yet, and within the window full attention computes the same: lower the"
                + " context length to at most " + window);
    }

    /**
     * A full-context KV cache: every block's positions, except that a sliding-window block keeps a ring of at most
     * 2 × (W + max(chunk, 64)) rows (the CPU's rings, CpuKvCache, are 2 × (W + chunk), its block runner's
     * 2 × (W + 64): this bounds both) where that is less than the context.
     */
    static long sequenceBytes(ModelConfig c, int context, int chunk) {
        long perBlockRow = 4L * c.headCountKv() * ((long) c.headDim() + c.valueHeadDim());
        io.offload4j.model.ModelTraits t = c.traits();
        long ring = 2L * (t.slidingWindow() + Math.max(chunk, 64L));
        long rows = 0;
        for (int b = 0; b < c.blockCount(); b++) {
            rows += (t.sliding(b) && ring < context ? ring : context) + PADDING_POSITIONS;
        }
        return rows * perBlockRow;
    }

    /** fp32 keys and values of every block at one position, as the CPU backend keeps them (the most any does). */
    static long bytesPerPosition(ModelConfig c) {
        return 4L * c.blockCount() * c.headCountKv() * ((long) c.headDim() + c.valueHeadDim());
    }

    /** Attention scores per thread, as long as the context. */
    private static long scratchBytesPerPosition(ModelConfig c, int threads) {
        return 4L * Math.max(1, threads) * c.headCount();
    }


    String loweredMessage() {
        return "max sequences lowered from " + loweredFrom + " to " + maxRunning + ": each needs " + mib(bytesPerSequence)
                + " MiB of Java heap for a KV cache of " + contextLength + " positions, and the heap (-Xmx) has room"
                + " for " + maxRunning + " next to the prefix cache's " + mib(prefixCacheBytes) + " MiB; raise -Xmx or"
                + " lower the context length to run more at once";
    }

    private static long mib(long bytes) {
        return (bytes + (1 << 20) - 1) >> 20;
    }
}

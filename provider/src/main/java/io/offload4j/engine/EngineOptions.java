package io.offload4j.engine;

/**
 * How an engine is set up.
 *
 * @param device        auto, cpu, cuda or cuda:N
 * @param threads       CPU threads (0 = one per processor)
 * @param contextLength the longest sequence (prompt + generated) served; 0 = the model's trained
 *                      context, capped at {@link #DEFAULT_MAX_CONTEXT} to keep the KV cache small
 * @param chunkTokens   prompt tokens processed per forward call (prefill batch)
 */
public record EngineOptions(String device, int threads, int contextLength, int chunkTokens) {

    public static final int DEFAULT_MAX_CONTEXT = 4096;
    public static final EngineOptions DEFAULTS = new EngineOptions("auto", 0, 0, 64);

    public EngineOptions {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = one per processor), was " + threads);
        }
        if (contextLength < 0) {
            throw new IllegalArgumentException("contextLength must be >= 0 (0 = the model's), was " + contextLength);
        }
        if (chunkTokens < 1) {
            throw new IllegalArgumentException("chunkTokens must be positive, was " + chunkTokens);
        }
    }

    public EngineOptions withDevice(String d) {
        return new EngineOptions(d, threads, contextLength, chunkTokens);
    }

    public EngineOptions withThreads(int t) {
        return new EngineOptions(device, t, contextLength, chunkTokens);
    }

    public EngineOptions withContextLength(int c) {
        return new EngineOptions(device, threads, c, chunkTokens);
    }

    public EngineOptions withChunkTokens(int c) {
        return new EngineOptions(device, threads, contextLength, c);
    }
}

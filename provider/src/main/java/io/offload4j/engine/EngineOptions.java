package io.offload4j.engine;

import io.offload4j.backend.Device;
import io.offload4j.model.LoadQuantization;
import io.offload4j.model.Quantization;
import io.offload4j.engine.speculative.SpeculativeOptions;
import io.offload4j.offload.OffloadOptions;

/**
 * How an engine is set up.
 *
 * @param device           which device runs the model ({@link Device#AUTO}: the GPU when usable, else the CPU)
 * @param threads          CPU threads (0 = one per processor)
 * @param contextLength    the longest sequence (prompt + generated) served; 0 = the model's trained
 *                         context, capped at {@link #DEFAULT_MAX_CONTEXT} to keep the KV cache small. More than
 *                         the trained context is refused unless {@code contextBeyondTraining} is set; either way
 *                         the KV caches it needs are checked against the memory the process has before loading
 * @param chunkTokens      prompt tokens processed per forward call (prefill batch)
 * @param maxSequences     how many requests the scheduler advances together (their decode steps batched into
 *                         one forward call per token); further requests wait in a FIFO queue. Each running
 *                         sequence holds a KV cache of its prompt and max tokens. {@link #AUTO_SEQUENCES} (the
 *                         default): on a GPU up to the batch rows ({@code OffloadOptions.maxBatchRows}), each request
 *                         admitted while the device memory free holds its KV cache (kept conversations dropped to
 *                         make room; see {@code MemoryAdmission}); on the CPU up to {@link #DEFAULT_MAX_SEQUENCES},
 *                         each admitted while the Java heap's share for KV caches holds its cache beside the others
 * @param prefixCacheBytes bytes of KV caches of finished sequences kept for prefix reuse (a new request that
 *                         starts with the same tokens continues from them instead of prefilling again);
 *                         0 switches prefix reuse off; {@link #AUTO_PREFIX_CACHE} (the default) keeps two
 *                         full-context KV caches, and for KV caches on the Java heap (the CPU backend) at most a
 *                         quarter of what the heap has room for (see {@code Runtime.maxMemory()})
 * @param offload          GPU and pinned-host budgets, prefetch depth and placement policy for models larger than
 *                         the GPU (ignored by the CPU backend)
 * @param contextBeyondTraining allows a {@code contextLength} above the context the model was trained for. Only for
 *                         a model whose positions were stretched for it (RoPE scaling in its config or a fine-tune
 *                         for longer contexts): otherwise its output degrades past the trained length.
 * @param speculative      speculative decoding: a drafter (prompt lookup, a draft model) whose proposals the model
 *                         verifies several at a time; {@link SpeculativeOptions#OFF} (the default) decodes one token
 *                         per step
 * @param quantization     quantize at load: F32/F16/BF16 matrices become Q8_0, Q4_K (llama.cpp's Q4_K_M mix) or Q6_K
 *                         as they load, written tensor by tensor into a GGUF file that is then mapped (a temporary one,
 *                         or a cache file the next start maps directly); {@link LoadQuantization#NONE} (the default)
 *                         loads the weights as they are
 */
public record EngineOptions(Device device, int threads, int contextLength, int chunkTokens, int maxSequences,
                            long prefixCacheBytes, OffloadOptions offload, boolean contextBeyondTraining,
                            SpeculativeOptions speculative, LoadQuantization quantization) {

    public static final int DEFAULT_MAX_CONTEXT = 4096;
    /** {@code maxSequences} on the CPU when it is {@link #AUTO_SEQUENCES}. */
    public static final int DEFAULT_MAX_SEQUENCES = 8;
    /** {@code maxSequences}: from the memory that is free (see the parameter). */
    public static final int AUTO_SEQUENCES = 0;
    /** {@code prefixCacheBytes}: room for two full-context KV caches, bounded by the heap for heap KV caches. */
    public static final long AUTO_PREFIX_CACHE = -1;
    public static final EngineOptions DEFAULTS = new EngineOptions(Device.AUTO, 0, 0, 64, AUTO_SEQUENCES,
            AUTO_PREFIX_CACHE, OffloadOptions.DEFAULTS, false, SpeculativeOptions.OFF, LoadQuantization.NONE);

    public EngineOptions {
        if (device == null) {
            device = Device.AUTO;
        }
        if (speculative == null) {
            speculative = SpeculativeOptions.OFF;
        }
        if (quantization == null) {
            quantization = LoadQuantization.NONE;
        }
        if (offload == null) {
            offload = OffloadOptions.DEFAULTS;
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = one per processor), was " + threads);
        }
        if (contextLength < 0) {
            throw new IllegalArgumentException("contextLength must be >= 0 (0 = the model's), was " + contextLength);
        }
        if (chunkTokens < 1) {
            throw new IllegalArgumentException("chunkTokens must be positive, was " + chunkTokens);
        }
        if (maxSequences < 0) {
            throw new IllegalArgumentException("maxSequences must be positive, or 0 (AUTO_SEQUENCES: from the memory that"
                    + " is free), was " + maxSequences);
        }
        if (prefixCacheBytes < 0 && prefixCacheBytes != AUTO_PREFIX_CACHE) {
            throw new IllegalArgumentException("prefixCacheBytes must be >= 0 (0 = no prefix reuse) or AUTO_PREFIX_CACHE"
                    + " (-1), was " + prefixCacheBytes);
        }
    }

    /** The options before {@code contextBeyondTraining}: the context stays within the trained one. */
    public EngineOptions(String device, int threads, int contextLength, int chunkTokens, int maxSequences,
                         long prefixCacheBytes, OffloadOptions offload) {
        this(Device.parse(device), threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload,
                false, SpeculativeOptions.OFF, LoadQuantization.NONE);
    }

    /** Within the trained context, without speculative decoding. */
    public EngineOptions(Device device, int threads, int contextLength, int chunkTokens, int maxSequences,
                         long prefixCacheBytes, OffloadOptions offload) {
        this(device, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload, false,
                SpeculativeOptions.OFF, LoadQuantization.NONE);
    }

    /** The options of earlier versions; scheduler and prefix cache get their defaults. */
    public EngineOptions(String device, int threads, int contextLength, int chunkTokens) {
        this(device, threads, contextLength, chunkTokens, DEFAULT_MAX_SEQUENCES, AUTO_PREFIX_CACHE,
                OffloadOptions.DEFAULTS);
    }

    /** The options before offloading was configurable; offloading gets its defaults. */
    public EngineOptions(String device, int threads, int contextLength, int chunkTokens, int maxSequences,
                         long prefixCacheBytes) {
        this(device, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, OffloadOptions.DEFAULTS);
    }

    /** With the device written as users write it ({@code auto}, {@code cpu}, {@code cuda}, {@code cuda:N}). */
    public EngineOptions withDevice(String d) {
        return withDevice(Device.parse(d));
    }

    public EngineOptions withDevice(Device d) {
        return new EngineOptions(d, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload, contextBeyondTraining, speculative, quantization);
    }

    public EngineOptions withThreads(int t) {
        return new EngineOptions(device, t, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload, contextBeyondTraining, speculative, quantization);
    }

    public EngineOptions withContextLength(int c) {
        return new EngineOptions(device, threads, c, chunkTokens, maxSequences, prefixCacheBytes, offload, contextBeyondTraining, speculative, quantization);
    }

    public EngineOptions withChunkTokens(int c) {
        return new EngineOptions(device, threads, contextLength, c, maxSequences, prefixCacheBytes, offload, contextBeyondTraining, speculative, quantization);
    }

    public EngineOptions withMaxSequences(int n) {
        return new EngineOptions(device, threads, contextLength, chunkTokens, n, prefixCacheBytes, offload, contextBeyondTraining, speculative, quantization);
    }

    public EngineOptions withPrefixCacheBytes(long bytes) {
        return new EngineOptions(device, threads, contextLength, chunkTokens, maxSequences, bytes, offload, contextBeyondTraining, speculative, quantization);
    }

    public EngineOptions withOffload(OffloadOptions o) {
        return new EngineOptions(device, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, o, contextBeyondTraining, speculative, quantization);
    }

    public EngineOptions withContextBeyondTraining(boolean allowed) {
        return new EngineOptions(device, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload,
                allowed, speculative, quantization);
    }

    public EngineOptions withSpeculative(SpeculativeOptions sp) {
        return new EngineOptions(device, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload,
                contextBeyondTraining, sp, quantization);
    }

    /** The options before quantize at load: weights load as they are. */
    public EngineOptions(Device device, int threads, int contextLength, int chunkTokens, int maxSequences,
                         long prefixCacheBytes, OffloadOptions offload, boolean contextBeyondTraining,
                         SpeculativeOptions speculative) {
        this(device, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload,
                contextBeyondTraining, speculative, LoadQuantization.NONE);
    }

    public EngineOptions withQuantization(LoadQuantization q) {
        return new EngineOptions(device, threads, contextLength, chunkTokens, maxSequences, prefixCacheBytes, offload,
                contextBeyondTraining, speculative, q);
    }

    /**
     * Quantize at load as users write it: none, q8_0, q4_k or q6_k.
     *
     * @throws IllegalArgumentException for any other value, listing the allowed ones
     */
    public EngineOptions withQuantization(String format) {
        return withQuantization(quantization.withFormat(Quantization.parse(format, "quantization")));
    }

    /** Where the quantized GGUF is kept for the next start (a file, or a folder to put it in); null: a temporary file. */
    public EngineOptions withQuantizationCache(java.nio.file.Path file) {
        return withQuantization(quantization.withCacheFile(file));
    }
}

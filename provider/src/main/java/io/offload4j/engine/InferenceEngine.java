package io.offload4j.engine;

import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import io.offload4j.offload.OffloadStats;
import io.offload4j.offload.TieredForwardPass;
import io.offload4j.offload.TieredPasses;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.Accelerator;
import io.offload4j.engine.speculative.DrafterFactory;
import io.offload4j.engine.speculative.SpeculativeCounters;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.tokenizer.Tokenizer;
import io.offload4j.tokenizer.Tokenizers;
import java.nio.file.Path;
import java.util.Objects;
import java.util.function.BiFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A loaded model ready to generate: the model file, its tokenizer, and its forward pass on a backend, driven by
 * a scheduler thread. Expensive to build, cheap to use: share one instance (it is thread-safe) and close it
 * when done.
 *
 * <p>Requests ({@link #submit}, or {@link #generate} which waits) are queued and served by the engine's own
 * thread, never the caller's: up to {@link EngineOptions#maxSequences()} sequences run at once, their decode
 * steps batched into one forward call per token (continuous batching), the rest wait in FIFO order. KV caches
 * of finished sequences are kept (bounded by {@link EngineOptions#prefixCacheBytes()}) so that a request
 * starting with the same tokens, such as a conversation's next turn, skips the prefill of the shared prefix.
 */
public final class InferenceEngine implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(InferenceEngine.class);
    /** The least an {@code auto} prefix cache keeps in device memory (host heap caches are sized by {@link MemoryPlan}). */
    static final long MIN_AUTO_DEVICE_PREFIX_CACHE_BYTES = 512L << 20;
    /** Device memory {@link EngineOptions#AUTO_SEQUENCES} leaves unplanned (the weight budget's margin, again). */
    static final long AUTO_SEQUENCES_MARGIN_BYTES = 768L << 20;

    private final Model model;
    private final Tokenizer tokenizer;
    private final Backend backend;
    private final ForwardPass pass;
    /** The pass as prepared when it offloads (stats), else null; {@link #pass} may wrap it (tests). */
    private final TieredForwardPass tiered;
    private final int contextLength;
    /** Sequences run at once, and how that number was chosen (for the memory report). */
    private final int maxSequences;
    private final String maxSequencesReason;
    private final Scheduler scheduler;
    /** Speculative decoding (its drafter factory closed with the engine), or null. */
    private final SpeculativeDecoding speculation;
    private final SpeculativeCounters speculativeCounters;
    private final Object closeLock = new Object();
    private boolean closed;
    private boolean resourcesClosed;
    /** Tokenizer and chat template keys: the GGUF file's metadata, or those converted from a Hugging Face directory. */
    private final GgufMetadata tokenizerMetadata;

    private InferenceEngine(Model model, GgufMetadata tokenizerMetadata, Tokenizer tokenizer, Backend backend,
                            ForwardPass pass, TieredForwardPass tiered, MemoryPlan plan, EngineOptions options,
                            DrafterFactory drafters) {
        this.model = model;
        this.tokenizerMetadata = tokenizerMetadata;
        this.tokenizer = tokenizer;
        this.backend = backend;
        this.pass = pass;
        this.tiered = tiered;
        this.contextLength = plan.contextLength();
        SpeculativeCounters counters = new SpeculativeCounters();
        this.speculativeCounters = counters;
        // KV caches in device memory (the pass reports what is free there): what one position costs, from a
        // one-position probe, for the automatic prefix cache and for admitting requests by the memory free
        boolean autoSequences = options.maxSequences() == EngineOptions.AUTO_SEQUENCES;
        long free = autoSequences ? pass.freeDeviceMemory() : -1;
        boolean sizedOnDevice = plan.prefixCacheBytes() == EngineOptions.AUTO_PREFIX_CACHE || free >= 0;
        long perPosition = sizedOnDevice ? deviceBytesPerPosition(pass) : 0;
        long prefixBytes = prefixCacheBytes(plan, perPosition);
        int running = plan.maxRunning();
        MemoryAdmission admission = null;
        if (free >= 0) {
            // as many at once as the memory free holds, request by request (a KV cache holds its request's prompt and
            // max tokens), up to the rows of a batched step
            int rows = options.offload().maxBatchRows();
            running = rows;
            admission = MemoryAdmission.onDevice(pass, perPosition, AUTO_SEQUENCES_MARGIN_BYTES);
            this.maxSequencesReason = String.format(java.util.Locale.ROOT, "auto: up to the %d rows of a batched step,"
                    + " %s; %d MiB free on the GPU after loading (a whole-context KV cache of %d positions takes %d"
                    + " MiB)", rows, admission.describe(), free >> 20, contextLength, perPosition * contextLength >> 20);
            LOG.info("offload4j: {} sequences at once ({})", running, maxSequencesReason);
        } else if (plan.heapKvBudget() > 0) {
            // KV caches on the heap: as many at once as its share for KV caches holds, request by request, up to the
            // CPU's default (a CPU step's time grows with its rows: more at once would mostly delay the first tokens)
            admission = MemoryAdmission.onHeap(plan.heapKvBudget(), MemoryPlan.bytesPerPosition(model.config()));
            this.maxSequencesReason = String.format(java.util.Locale.ROOT, "auto: up to the CPU's default of %d, %s"
                    + " (a whole-context KV cache of %d positions takes %d MiB)", running, admission.describe(),
                    contextLength, plan.bytesPerSequence() >> 20);
        } else if (running == EngineOptions.AUTO_SEQUENCES) {
            running = EngineOptions.DEFAULT_MAX_SEQUENCES; // a device that does not say what is free
            this.maxSequencesReason = "auto";
        } else {
            this.maxSequencesReason = plan.loweredFrom() > 0 ? "lowered from " + plan.loweredFrom() + " to fit the heap"
                    : "set";
        }
        this.maxSequences = running;
        this.speculation = drafters == null ? null
                : new SpeculativeDecoding(drafters, options.speculative().maxDraftTokens(), running, pass, counters);
        this.scheduler = new Scheduler(pass, tokenizer, contextLength, running, prefixBytes, model.config().name(),
                this::closeResourcesIfClosed, speculation, counters, admission);
        scheduler.start();
    }

    /**
     * The prefix cache's budget: as planned, or for {@link EngineOptions#AUTO_PREFIX_CACHE} with KV caches in device
     * memory, two full-context caches (at least {@link #MIN_AUTO_DEVICE_PREFIX_CACHE_BYTES}).
     */
    private static long prefixCacheBytes(MemoryPlan plan, long perPosition) {
        if (plan.prefixCacheBytes() != EngineOptions.AUTO_PREFIX_CACHE) {
            return plan.prefixCacheBytes();
        }
        return Math.max(MIN_AUTO_DEVICE_PREFIX_CACHE_BYTES, 2 * perPosition * plan.contextLength());
    }

    /** A KV cache's bytes per position on the pass's device(s), from a one-position probe. */
    private static long deviceBytesPerPosition(ForwardPass pass) {
        try (KvCache probe = pass.newKvCache(1)) {
            return probe.byteSize();
        }
    }

    /** Number of sequences run at once (the option, or for {@link EngineOptions#AUTO_SEQUENCES} what was chosen). */
    public int maxSequences() {
        return maxSequences;
    }

    /**
     * Loads a model: a GGUF file, or a Hugging Face model directory (config.json, *.safetensors in F32/F16/BF16,
     * tokenizer.json, optionally tokenizer_config.json / chat_template.jinja).
     */
    public static InferenceEngine load(Path modelPath, EngineOptions options) {
        return load(modelPath, options, (pass, tokenizer) -> pass);
    }

    /**
     * Loads a model with its forward pass wrapped by {@code passDecorator}: for tests that observe or steer the
     * computation (e.g. force the logits of a scripted reply), never needed in production.
     */
    static InferenceEngine load(Path modelPath, EngineOptions options,
                                BiFunction<ForwardPass, Tokenizer, ForwardPass> passDecorator) {
        return load(modelPath, options, passDecorator, null);
    }

    /** As above, the memory plan made for {@code heap} instead of this process's (tests of the heap's limits). */
    static InferenceEngine load(Path modelPath, EngineOptions options,
                                BiFunction<ForwardPass, Tokenizer, ForwardPass> passDecorator, MemoryPlan.Heap heap) {
        Model model = ModelFiles.load(modelPath);
        Backend backend = null;
        DrafterFactory drafters = null;
        try {
            GgufMetadata tokenizerMetadata = ModelFiles.tokenizerMetadata(model);
            if (options.quantization().enabled()) {
                Model quantized = quantizeAtLoad(model, tokenizerMetadata, options.quantization());
                if (quantized != model) {
                    model.close();
                    model = quantized;
                    tokenizerMetadata = quantized.metadata();
                }
            }
            Tokenizer tokenizer;
            try {
                tokenizer = Tokenizers.fromGguf(tokenizerMetadata);
            } catch (io.offload4j.tokenizer.TokenizerException e) { // name the file the tokenizer came from
                throw new io.offload4j.gguf.ModelFormatException(modelPath, e.getMessage(), e);
            }
            ModelConfig c = model.config();
            if (tokenizer.vocabularySize() != c.vocabularySize()) {
                throw new io.offload4j.gguf.ModelFormatException(modelPath, "the tokenizer has "
                        + tokenizer.vocabularySize() + " tokens but the model's embedding has " + c.vocabularySize()
                        + " rows");
            }
            backend = Backends.create(options.device(), options.threads());
            MemoryPlan plan = MemoryPlan.of(modelPath, c, options, keepsKvCachesOnHeap(backend),
                    options.threads() > 0 ? options.threads() : Runtime.getRuntime().availableProcessors(),
                    heap != null ? heap : MemoryPlan.Heap.now());
            if (plan.loweredFrom() > 0) {
                LOG.warn("offload4j: {}", plan.loweredMessage());
            }
            int context = plan.contextLength();
            int chunk = Math.min(options.chunkTokens(), context);
            // a draft model first: on a GPU it must be resident, and the target's automatic budget takes the rest
            drafters = SpeculativeSetup.drafters(options.speculative(), backend, modelPath, tokenizer, context, chunk);
            ForwardPass prepared = TieredPasses.prepare(backend, model, context, chunk, options.offload());
            ForwardPass pass = passDecorator.apply(prepared, tokenizer);
            return new InferenceEngine(model, tokenizerMetadata, tokenizer, backend, pass,
                    prepared instanceof TieredForwardPass t ? t : null, plan, options, drafters);
        } catch (RuntimeException e) {
            if (drafters != null) {
                drafters.close();
            }
            if (backend != null) {
                backend.close();
            }
            model.close();
            throw e;
        }
    }

    /**
     * The model quantized as {@code q} says (see {@link io.offload4j.model.QuantizedGguf}), or {@code model} itself
     * when none of its matrices is F32, F16 or BF16 (a GGUF file already quantized).
     */
    private static Model quantizeAtLoad(Model model, GgufMetadata metadata, io.offload4j.model.LoadQuantization q) {
        boolean anyFloat = io.offload4j.model.ModelFormats.matrices(model.weights()).stream()
                .anyMatch(w -> w.type() == io.offload4j.gguf.GgmlType.F32 || w.type() == io.offload4j.gguf.GgmlType.F16
                        || w.type() == io.offload4j.gguf.GgmlType.BF16);
        if (!anyFloat) {
            LOG.warn("offload4j: quantization {} ignored: {} is already quantized (no F32/F16/BF16 matrix)",
                    q.format().optionName(), model.path().getFileName());
            return model;
        }
        io.offload4j.model.QuantizedGguf.Result r = io.offload4j.model.QuantizedGguf.load(model, metadata, q);
        if (r.reused()) {
            LOG.info("offload4j: mapped {}, the {} quantization of {} an earlier start wrote", r.file(),
                    q.format().optionName(), model.path().getFileName());
        } else {
            LOG.info("offload4j: quantized {} to {} in {} s: {} MiB of matrices, {} MiB before{}",
                    model.path().getFileName(), q.format().optionName(), String.format("%.1f", r.nanos() / 1e9),
                    r.model().weights().totalMatrixBytes() >> 20, model.weights().totalMatrixBytes() >> 20,
                    q.cacheFile() != null ? " (kept in " + r.file() + " for the next start)" : "");
        }
        return r.model();
    }

    /**
     * Whether the backend keeps KV caches on the Java heap, where they count against {@code -Xmx}: the CPU backend
     * does; a GPU keeps them in device memory (and a CPU copy only of the blocks the CPU computes).
     */
    private static boolean keepsKvCachesOnHeap(Backend backend) {
        return !onAccelerators(backend);
    }

    public ModelConfig config() {
        return model.config();
    }

    public Model model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The tokenizer's metadata ({@code tokenizer.*} keys, the chat template among them): the GGUF file's, or
     * those converted from a Hugging Face directory. {@code chat.ChatPrompts.forModel} turns it into a chat format.
     */
    public GgufMetadata tokenizerMetadata() {
        return tokenizerMetadata;
    }

    /** The longest sequence (prompt + generated tokens) this engine serves. */
    public int contextLength() {
        return contextLength;
    }

    /** Whether the model runs on an accelerator (a GPU), not on the CPU backend alone. */
    public boolean onAccelerator() {
        return onAccelerators(backend);
    }

    private static boolean onAccelerators(Backend backend) {
        return backend instanceof Accelerator || backend instanceof io.offload4j.backend.AcceleratorGroup;
    }

    public String deviceDescription() {
        return backend.description();
    }

    /**
     * Generates a continuation of the request's prompt and waits for it; {@code listener} is called on the
     * engine's thread as tokens arrive. If the waiting thread is interrupted, the generation is cancelled.
     *
     * @throws ContextLengthExceededException before any work, when the prompt (plus maxTokens, if set)
     *                                        does not fit the context
     * @throws RuntimeException               what made the generation fail (a listener's exception, ...)
     */
    public GenerationResult generate(GenerationRequest request, GenerationListener listener) {
        return submit(request, listener).join();
    }

    /**
     * Queues a request and returns at once. The listener is called on the engine's thread; the returned
     * {@link Generation} completes after the listener's {@link GenerationListener#onComplete} or
     * {@link GenerationListener#onError}.
     *
     * @throws ContextLengthExceededException before any work, when the prompt (plus maxTokens, if set)
     *                                        does not fit the context
     * @throws IllegalArgumentException       when a prompt token is outside the vocabulary
     * @throws IllegalStateException          when the engine is closed
     */
    public Generation submit(GenerationRequest request, GenerationListener listener) {
        Objects.requireNonNull(request, "request");
        int[] prompt = request.promptTokensUnsafe();
        int promptLength = prompt.length;
        int vocab = tokenizer.vocabularySize();
        for (int i = 0; i < promptLength; i++) {
            if (prompt[i] < 0 || prompt[i] >= vocab) {
                throw new IllegalArgumentException("prompt token " + i + " is " + prompt[i] + ", outside the vocabulary 0.."
                        + (vocab - 1));
            }
        }
        if (promptLength >= contextLength) {
            throw new ContextLengthExceededException("the prompt has " + promptLength + " tokens, which leaves no room in"
                    + " the context of " + contextLength + " tokens; shorten the prompt or raise the context length");
        }
        int maxTokens = request.maxTokens();
        if (maxTokens > 0 && (long) promptLength + maxTokens > contextLength) { // long: MAX_VALUE must not wrap
            throw new ContextLengthExceededException("the prompt has " + promptLength + " tokens and max tokens is "
                    + maxTokens + ": together " + ((long) promptLength + maxTokens) + ", more than the context length "
                    + contextLength + "; shorten the prompt, lower max tokens or raise the context length");
        }
        synchronized (closeLock) {
            if (closed) {
                throw new IllegalStateException("the engine is closed");
            }
        }
        Sequence s = new Sequence(request, listener, contextLength);
        scheduler.submit(s);
        return s.generation;
    }

    /** Where the weights are (GPU, streamed, CPU) and what streaming has cost so far. */
    public OffloadStats offloadStats() {
        return tiered != null ? tiered.offloadStats() : OffloadStats.allResident(model.config().blockCount(), 0);
    }

    /** The memory the prepared model holds, per tier, as printed at load. */
    public String memoryReport() {
        return pass.memoryReport() + System.lineSeparator() + "  engine " + maxSequences + " sequences at once ("
                + maxSequencesReason + ")" + scheduler.growthReport();
    }

    /**
     * Speculative decoding's live counters (all zero when it is off), with the passes by draft length and their
     * time: what {@code SpeculativeBenchmark} reports to judge the choice of k. {@link #stats} has the totals.
     */
    public SpeculativeCounters speculativeCounters() {
        return speculativeCounters;
    }

    /**
     * Tests of the drafting mechanism: every verification counts as costing a decode step, so k follows the acceptance
     * alone, not this machine's timings ({@link io.offload4j.engine.speculative.PassCosts#fixFlat}). Call before
     * submitting anything.
     */
    void assumeFlatPassCosts() {
        if (speculation != null) {
            speculation.soloCosts().fixFlat();
            speculation.sharedCosts().fixFlat();
        }
    }

    /** The cost table of steps of one sequence, or null when speculative decoding is off (tests: read it idle). */
    io.offload4j.engine.speculative.PassCosts passCosts() {
        return speculation == null ? null : speculation.soloCosts();
    }

    /** Queue, running sequences and prefix cache, now. */
    public EngineStats stats() {
        return scheduler.stats();
    }

    /**
     * Stops the scheduler (queued and running requests fail with an {@link IllegalStateException}), frees the
     * kept KV caches and closes the model. Idempotent. Called from a listener (on the engine's thread), it
     * returns at once and the engine finishes closing when the current step returns.
     */
    @Override
    public void close() {
        synchronized (closeLock) {
            if (closed) {
                return;
            }
            closed = true;
        }
        scheduler.shutdown();
        if (!scheduler.isSchedulerThread()) {
            closeResourcesIfClosed();
        }
    }

    /** Runs when the scheduler thread exits, and after it has been joined: closes the model once it is closed. */
    private void closeResourcesIfClosed() {
        synchronized (closeLock) {
            if (!closed || resourcesClosed) {
                return;
            }
            resourcesClosed = true;
        }
        try {
            if (speculation != null) {
                speculation.close();
            }
        } finally {
            pass.close();
            backend.close();
            model.close();
        }
    }
}

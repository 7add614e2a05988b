package io.offload4j.langchain4j;

import io.offload4j.chat.ChatPrompts;
import io.offload4j.hub.DownloadListener;
import io.offload4j.hub.ModelResolver;
import io.offload4j.chat.ThinkingFormat;
import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.speculative.SpeculativeOptions;
import io.offload4j.engine.EngineStats;
import io.offload4j.engine.InferenceEngine;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.List;
import java.util.Set;

/**
 * A loaded model that {@link OffloadChatModel}s and {@link OffloadStreamingChatModel}s share: the weights, the
 * tokenizer, the chat template and the engine's scheduler (one queue for all models using it, and one prefix
 * cache, so a conversation continues its KV cache whichever model serves the next turn). Loading is expensive;
 * build one, hand it to every model with {@code .engine(engine)}, and close it when done.
 *
 * <pre>{@code
 * try (OffloadEngine engine = OffloadEngine.builder().modelPath(Path.of("model.gguf")).build()) {
 *     ChatModel chat = OffloadChatModel.builder().engine(engine).temperature(0.0).build();
 *     StreamingChatModel stream = OffloadStreamingChatModel.builder().engine(engine).build();
 * }
 * }</pre>
 *
 * Models built with {@code .modelPath(...)} instead share an engine per file and settings through
 * {@link #acquire}: two such models never load the same weights twice; the engine closes when the last of them
 * is closed.
 */
public final class OffloadEngine implements AutoCloseable {

    private static final Map<SharedKey, OffloadEngine> SHARED = new HashMap<>();

    private final InferenceEngine engine;
    private final String modelName;
    private final ToolCallFormat toolCallFormat;
    private final ThinkingFormat thinkingFormat;
    private final Set<Integer> markerTokens;
    private final SharedKey sharedKey;
    private volatile ChatPrompts chatPrompts;
    private int references;

    private OffloadEngine(InferenceEngine engine, SharedKey sharedKey) {
        this.engine = engine;
        this.sharedKey = sharedKey;
        this.modelName = engine.config().name();
        ToolCallFormat format;
        ThinkingFormat thinking;
        try {
            ChatPrompts prompts = chatPrompts();
            var t = prompts.template();
            format = ToolCallFormat.detect(t.template().source(),
                    t.toolUseTemplate() == null ? null : t.toolUseTemplate().source());
            thinking = ThinkingFormat.detect(t, engine.tokenizer()).orElse(null);
        } catch (RuntimeException e) { // a template this engine cannot compile: chat fails later, with the cause
            format = ToolCallFormat.NONE;
            thinking = null;
        }
        this.toolCallFormat = format;
        this.thinkingFormat = thinking;
        Set<Integer> markers = new HashSet<>();
        List<String> markerTexts = new java.util.ArrayList<>(format.markers());
        if (thinking != null) {
            markerTexts.add(thinking.start());
            markerTexts.add(thinking.end());
        }
        for (String m : markerTexts) {
            int id = engine.tokenizer().tokenId(m);
            if (id >= 0 && engine.tokenizer().isControl(id)) {
                markers.add(id); // decodes to nothing: its text is put back for the tool-call and thinking parsers
            }
        }
        this.markerTokens = Set.copyOf(markers);
    }

    /** Wraps an engine loaded elsewhere; closing the returned object closes it. */
    public static OffloadEngine of(InferenceEngine engine) {
        return new OffloadEngine(Objects.requireNonNull(engine, "engine"), null);
    }

    /** Loads a GGUF file with default settings (device auto, the model's context up to 4096 tokens). */
    public static OffloadEngine load(Path modelPath) {
        return builder().modelPath(modelPath).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * The engine for this file and these settings that models built with {@code modelPath(...)} share, loaded on
     * first use. Each call must be balanced by a {@link #close()}; the engine closes with the last one.
     */
    static OffloadEngine acquire(Path modelPath, EngineOptions options) {
        SharedKey key = new SharedKey(realPath(modelPath), options);
        synchronized (SHARED) {
            OffloadEngine e = SHARED.get(key);
            if (e == null) {
                e = new OffloadEngine(InferenceEngine.load(key.path(), options), key);
                SHARED.put(key, e);
            }
            e.references++;
            return e;
        }
    }

    /** The engine doing the work (tokenizer, chat template, scheduler, stats). */
    public InferenceEngine inferenceEngine() {
        return engine;
    }

    /** The model's name: the GGUF's {@code general.name}, or its file name. */
    public String modelName() {
        return modelName;
    }

    /** How this model writes tool calls ({@link ToolCallFormat#NONE}: its template does not support tools). */
    public ToolCallFormat toolCallFormat() {
        return toolCallFormat;
    }

    /** Scheduler and prefix-cache counters. */
    public EngineStats stats() {
        return engine.stats();
    }

    /**
     * The model's chat format, compiled on first use, so a template this engine cannot parse only fails chat
     * use (and is tried again by the next request).
     */
    ChatPrompts chatPrompts() {
        ChatPrompts p = chatPrompts;
        if (p == null) {
            synchronized (this) {
                p = chatPrompts;
                if (p == null) {
                    p = ChatPrompts.forModel(engine.tokenizer(), engine.tokenizerMetadata());
                    chatPrompts = p;
                }
            }
        }
        return p;
    }

    /** A control token whose text marks tool calls or thinking (the detokenizer drops it; the reply needs it). */
    boolean isMarkerToken(int token) {
        return markerTokens.contains(token);
    }

    /** The model's thinking markers, or null when it is not a reasoning model. */
    ThinkingFormat thinkingFormat() {
        return thinkingFormat;
    }

    /**
     * Closes the engine (requests still running fail). For an engine shared by {@code modelPath} models, releases
     * one reference; the last one closes it.
     */
    @Override
    public void close() {
        if (sharedKey != null) {
            synchronized (SHARED) {
                if (references == 0) {
                    return;
                }
                if (--references > 0) {
                    return;
                }
                SHARED.remove(sharedKey, this);
            }
        }
        engine.close();
    }

    @Override
    public String toString() {
        return "OffloadEngine[" + modelName + " on " + engine.deviceDescription() + ", context "
                + engine.contextLength() + "]";
    }

    private static Path realPath(Path p) {
        try {
            return p.toRealPath();
        } catch (NoSuchFileException e) {
            throw new IllegalArgumentException("model file " + p.toAbsolutePath() + " does not exist", e);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read model file " + p.toAbsolutePath() + ": " + e.getMessage(), e);
        }
    }

    private record SharedKey(Path path, EngineOptions options) {}

    /** Settings of a new engine. */
    public static final class Builder {
        private Path modelPath;
        private String hubModel;
        private ModelResolver modelResolver;
        private EngineOptions options = EngineOptions.DEFAULTS;

        private Builder() {}

        /** The GGUF file (or Hugging Face model directory) to load; this or {@link #model(String)} is required. */
        public Builder modelPath(Path modelPath) {
            this.modelPath = modelPath;
            this.hubModel = null;
            return this;
        }

        /**
         * The model as the CLI and the starter take it: a local path, or a Hugging Face Hub model
         * ({@code owner/repo:Q4_K_M}, {@code hf:owner/repo/file.gguf}, {@code hf:owner/repo}), downloaded once into
         * the Hugging Face cache when the engine is built.
         */
        public Builder model(String model) {
            if (model != null && ModelResolver.isHubSpec(model.trim())) {
                this.modelPath = null;
                this.hubModel = model.trim();
                return this;
            }
            return modelPath(model == null ? null : Path.of(model.trim()));
        }

        /** How {@link #model(String)} finds Hub models; default {@link ModelResolver#fromEnvironment()}. */
        public Builder modelResolver(ModelResolver modelResolver) {
            this.modelResolver = modelResolver;
            return this;
        }

        /** {@code auto} (default), {@code cpu}, {@code cuda} or {@code cuda:N}. */
        public Builder device(String device) {
            options = options.withDevice(device);
            return this;
        }

        /** CPU threads; 0 (default) = one per processor. */
        public Builder threads(int threads) {
            options = options.withThreads(threads);
            return this;
        }

        /** The longest prompt + reply; 0 (default) = the model's trained context, at most 4096. */
        public Builder contextLength(int contextLength) {
            options = options.withContextLength(contextLength);
            return this;
        }

        /**
         * Allows a {@link #contextLength} above the context the model was trained for (refused otherwise): only for
         * a model whose positions were stretched for longer contexts (RoPE scaling); default false.
         */
        public Builder contextBeyondTraining(boolean allowed) {
            options = options.withContextBeyondTraining(allowed);
            return this;
        }

        /**
         * Quantize at load, as bitsandbytes' {@code load_in_8bit}/{@code load_in_4bit}: {@code none} (default),
         * {@code q8_0}, {@code q4_k} (llama.cpp's Q4_K_M mix) or {@code q6_k}; F16/BF16/F32 weights are quantized
         * tensor by tensor as they load. Other values are refused, listing the allowed ones.
         */
        public Builder quantization(String format) {
            options = options.withQuantization(format);
            return this;
        }

        /**
         * Keeps the quantized model as a GGUF file (or in this folder) and maps it directly on the next start while
         * the source is unchanged; default: a temporary file, deleted once mapped.
         */
        public Builder quantizationCache(Path file) {
            options = options.withQuantizationCache(file);
            return this;
        }

        /**
         * Requests served at once, decoded together in one batched step per token; more wait in a queue. Default (0):
         * on a GPU as many as the memory left after loading holds KV caches for (at most the batch rows, 64), on the
         * CPU 8.
         */
        public Builder maxConcurrentRequests(int n) {
            options = options.withMaxSequences(n);
            return this;
        }

        /**
         * Bytes of finished conversations' KV caches kept for prefix reuse; 0 = off; default: room for two
         * full-context KV caches (on the CPU at most a quarter of what the Java heap has room for).
         */
        public Builder prefixCacheBytes(long bytes) {
            options = options.withPrefixCacheBytes(bytes);
            return this;
        }

        /**
         * GPU memory the weights may occupy, in bytes (resident blocks plus the staging ring for streamed ones);
         * default: free memory minus a margin, the activations and room for KV caches. A model larger than the
         * budget keeps what fits on the GPU and streams or CPU-computes the rest.
         */
        public Builder gpuMemoryBudget(long bytes) {
            options = options.withOffload(options.offload().withGpuMemoryBudget(bytes));
            return this;
        }

        /** Pinned host memory for streamed blocks, in bytes; default: what they need, at most half the RAM. */
        public Builder hostPinnedMemoryBudget(long bytes) {
            options = options.withOffload(options.offload().withHostPinnedMemoryBudget(bytes));
            return this;
        }

        /** Streamed blocks copied ahead of the one computing (default 2). */
        public Builder prefetchDepth(int depth) {
            options = options.withOffload(options.offload().withPrefetchDepth(depth));
            return this;
        }

        /** Blocks that do not fit on the GPU: {@code auto} (default), {@code stream} or {@code cpu}. */
        public Builder placement(String placement) {
            options = options.withOffload(options.offload().withPlacement(placement));
            return this;
        }

        /**
         * Speculative decoding by prompt lookup: drafts copied from earlier in the prompt and the reply (for answers
         * that quote their input, such as RAG answers), verified several at a time; the output is unchanged.
         */
        public Builder promptLookup(boolean on) {
            options = options.withSpeculative(options.speculative().withPromptLookup(on));
            return this;
        }

        /**
         * Speculative decoding with a small draft model of the same vocabulary (e.g. Qwen2.5-0.5B for Qwen2.5-7B),
         * kept on the CPU or wholly on the GPU; the output is unchanged.
         */
        public Builder draftModel(Path draftModel) {
            options = options.withSpeculative(options.speculative().withDraftModel(draftModel));
            return this;
        }

        /** The most tokens speculative decoding drafts per step (default 8; the step adapts below it). */
        public Builder maxDraftTokens(int n) {
            options = options.withSpeculative(options.speculative().withMaxDraftTokens(n));
            return this;
        }

        /** All speculative decoding settings at once (a drafter of your own among them). */
        public Builder speculative(SpeculativeOptions speculative) {
            options = options.withSpeculative(speculative);
            return this;
        }

        /** All engine settings at once. */
        public Builder options(EngineOptions options) {
            this.options = Objects.requireNonNull(options, "options");
            return this;
        }

        public OffloadEngine build() {
            if (hubModel != null) {
                ModelResolver resolver = modelResolver != null ? modelResolver : ModelResolver.fromEnvironment();
                modelPath = resolver.resolve(hubModel, DownloadListener.logging());
            }
            if (modelPath == null) {
                throw new IllegalArgumentException("modelPath is required: the GGUF file to load (or model(...) with a"
                        + " path or a Hugging Face id such as owner/repo:Q4_K_M)");
            }
            if (!Files.exists(modelPath)) {
                throw new IllegalArgumentException("model file " + modelPath.toAbsolutePath() + " does not exist");
            }
            return new OffloadEngine(InferenceEngine.load(modelPath, options), null);
        }
    }
}

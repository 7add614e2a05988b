package io.offload4j.engine;

import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.tokenizer.StreamingDetokenizer;
import io.offload4j.tokenizer.Tokenizer;
import io.offload4j.tokenizer.Tokenizers;
import io.offload4j.tokenizer.template.ChatTemplates;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * A loaded model ready to generate: the model file, its tokenizer, and its forward pass on a
 * backend. Expensive to build, cheap to use: share one instance and close it when done.
 * Generations are served one at a time (callers block); batching concurrent sequences comes with
 * the scheduler.
 */
public final class InferenceEngine implements AutoCloseable {

    private final Model model;
    private final Tokenizer tokenizer;
    private final Backend backend;
    private final ForwardPass pass;
    private final int contextLength;
    private final Object lock = new Object();
    private volatile boolean closed;
    private volatile ChatPrompts chatPrompts;

    private InferenceEngine(Model model, Tokenizer tokenizer, Backend backend, ForwardPass pass, int contextLength) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.backend = backend;
        this.pass = pass;
        this.contextLength = contextLength;
    }

    /** Loads a GGUF model file. */
    public static InferenceEngine load(Path modelPath, EngineOptions options) {
        Model model = Model.load(modelPath);
        Backend backend = null;
        try {
            Tokenizer tokenizer = Tokenizers.fromGguf(model.metadata());
            ModelConfig c = model.config();
            if (tokenizer.vocabularySize() != c.vocabularySize()) {
                throw new io.offload4j.gguf.ModelFormatException(modelPath, "the tokenizer has "
                        + tokenizer.vocabularySize() + " tokens but the model's embedding has " + c.vocabularySize()
                        + " rows");
            }
            int context = options.contextLength() > 0 ? options.contextLength()
                    : Math.min(c.contextLength(), EngineOptions.DEFAULT_MAX_CONTEXT);
            backend = Backends.create(options.device(), options.threads());
            ForwardPass pass = backend.prepare(model, context, Math.min(options.chunkTokens(), context));
            return new InferenceEngine(model, tokenizer, backend, pass, context);
        } catch (RuntimeException e) {
            if (backend != null) {
                backend.close();
            }
            model.close();
            throw e;
        }
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
     * The model's chat format: its own {@code tokenizer.chat_template}, or a built-in fallback chosen from
     * its special tokens. Compiled on first use, so a template this engine cannot parse only fails chat use.
     */
    public ChatPrompts chatPrompts() {
        ChatPrompts p = chatPrompts;
        if (p == null) {
            synchronized (this) {
                p = chatPrompts;
                if (p == null) {
                    p = new ChatPrompts(tokenizer, ChatTemplates.forModel(model.metadata()));
                    chatPrompts = p;
                }
            }
        }
        return p;
    }

    /** The longest sequence (prompt + generated tokens) this engine serves. */
    public int contextLength() {
        return contextLength;
    }

    public String deviceDescription() {
        return backend.description();
    }

    /**
     * Generates a continuation of the request's prompt, calling {@code listener} as tokens arrive.
     *
     * @throws ContextLengthExceededException before any work, when the prompt (plus maxTokens, if set)
     *                                        does not fit the context
     */
    public GenerationResult generate(GenerationRequest request, GenerationListener listener) {
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
        if (maxTokens > 0 && promptLength + maxTokens > contextLength) {
            throw new ContextLengthExceededException("the prompt has " + promptLength + " tokens and max tokens is "
                    + maxTokens + ": together " + (promptLength + maxTokens) + ", more than the context length "
                    + contextLength + "; shorten the prompt, lower max tokens or raise the context length");
        }
        int capacity = maxTokens > 0 ? promptLength + maxTokens : contextLength;
        synchronized (lock) {
            if (closed) {
                throw new IllegalStateException("the engine is closed");
            }
            try (KvCache cache = pass.newKvCache(capacity)) {
                return run(request, listener, cache, capacity);
            }
        }
    }

    private GenerationResult run(GenerationRequest request, GenerationListener listener, KvCache cache, int capacity) {
        int[] prompt = request.promptTokensUnsafe();
        int promptLength = prompt.length;
        int maxTokens = request.maxTokens() > 0 ? request.maxTokens() : capacity - promptLength;
        int[] history = Arrays.copyOf(prompt, capacity + 1);
        int[] stopTokens = request.stopTokensUnsafe();
        float[] logits = new float[tokenizer.vocabularySize()];
        Sampler sampler = new Sampler(request.sampling(), logits.length);
        StopStringMatcher stops = new StopStringMatcher(request.stopStrings());
        boolean hasStops = !request.stopStrings().isEmpty();
        StreamingDetokenizer detokenizer = new StreamingDetokenizer(tokenizer);
        StringBuilder text = new StringBuilder();
        int emitted = 0;

        long start = System.nanoTime();
        int chunk = pass.maxChunkTokens();
        for (int pos = 0; pos < promptLength; pos += chunk) {
            int n = Math.min(chunk, promptLength - pos);
            pass.forward(cache, prompt, pos, n, pos, logits);
        }
        long prefillEnd = System.nanoTime();
        listener.onPromptProcessed(promptLength, prefillEnd - start);

        int generated = 0;
        int length = promptLength;
        FinishReason finish = null;
        while (finish == null) {
            int token = sampler.sample(logits, history, length);
            history[length++] = token;
            generated++;
            if (tokenizer.isEndOfGeneration(token) || contains(stopTokens, token)) {
                listener.onToken(token);
                finish = FinishReason.STOP;
                break;
            }
            String piece = detokenizer.feed(token);
            int before = text.length();
            text.append(piece);
            String out;
            if (hasStops) {
                int at = stops.find(text, stops.searchFrom(before));
                if (at >= 0) {
                    text.setLength(at);
                    finish = FinishReason.STOP;
                    out = text.substring(Math.min(emitted, at));
                } else {
                    int safe = Math.max(emitted, stops.safeEnd(text));
                    out = text.substring(emitted, safe);
                }
            } else {
                out = piece;
            }
            emitted += out.length();
            listener.onToken(token);
            if (!out.isEmpty()) {
                listener.onText(out);
            }
            if (finish != null) {
                break;
            }
            if (generated >= maxTokens || length >= capacity) {
                finish = FinishReason.LENGTH;
            } else if (listener.isCancelled()) {
                finish = FinishReason.CANCELLED;
            } else {
                pass.forward(cache, history, length - 1, 1, length - 1, logits);
            }
        }
        if (finish != FinishReason.STOP || !hasStops) {
            String rest = detokenizer.flush();
            text.append(rest);
        }
        if (emitted < text.length()) {
            listener.onText(text.substring(emitted));
        }
        long end = System.nanoTime();
        return new GenerationResult(prompt.clone(), Arrays.copyOfRange(history, promptLength, length), text.toString(),
                finish, prefillEnd - start, end - prefillEnd);
    }

    private static boolean contains(int[] values, int v) {
        for (int x : values) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void close() {
        synchronized (lock) {
            if (closed) {
                return;
            }
            closed = true;
            pass.close();
            backend.close();
            model.close();
        }
    }
}

package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.engine.grammar.GrammarMatcher;
import io.offload4j.engine.grammar.GrammarVocabulary;
import io.offload4j.tokenizer.StreamingDetokenizer;
import io.offload4j.tokenizer.Tokenizer;
import java.util.Arrays;

/**
 * One request as the scheduler runs it. While its prompt is not all in the KV cache, {@link #prefillStep} runs
 * the next prompt chunk (the last chunk's logits give the first token). After that the sequence decodes, and a
 * decode step is split in two so that the scheduler can run the decode steps of all sequences as one batched
 * forward call: {@link #decodeToken()} / {@link #decodePosition()} say what to feed, the scheduler computes the
 * logits into {@link #logits()}, and {@link #acceptDecoded()} samples and emits the next token from them.
 *
 * <p>A sequence may also be suspended between decode steps ({@link #suspend}: its KV cache taken away, to make room
 * for another's) and resumed later in a new cache ({@link #resume}): it then computes its tokens so far again as
 * prefill chunks ({@link #resuming()}), emitting nothing, and decodes on where it stopped. Its sampler, grammar,
 * stop strings and text carry on untouched, so its output is what it would have been without the pause.
 *
 * <p>Every buffer is allocated at {@link #start}; a step allocates only the text of the token it emits. Confined
 * to the scheduler thread once submitted.
 */
final class Sequence {

    final Generation generation = new Generation();
    final GenerationRequest request;
    final GenerationListener listener;
    final long submittedAt = System.nanoTime();

    private final int[] prompt;
    /** The last position (exclusive) the sequence may reach: prompt + maxTokens, or the context. */
    private final int limit;
    private final int maxTokens;

    private KvCache cache;
    private int reused;
    private int[] history;
    private float[] logits;
    private Sampler sampler;
    /** Null unless the request has a grammar. */
    private GrammarMatcher grammar;
    private StopStringMatcher stops;
    private boolean hasStops;
    private int[] stopTokens;
    private StreamingDetokenizer detokenizer;
    private Tokenizer tokenizer;
    private final StringBuilder text = new StringBuilder();
    private int emitted;

    private int prefilled;
    /** Positions the prefill steps fill: the prompt, or after {@link #suspend} the tokens cached before it. */
    private int prefillTarget;
    private boolean resuming;
    /**
     * The positions counted for it against the memory for KV caches, and their bytes ({@link Scheduler}'s running
     * bytes): its cache's capacity and bytes, or, where the memory is the Java heap and its cache takes pages only as
     * it writes them, a reservation that grows ({@link KvGrowth}). 0 without a cache.
     */
    private int reservedPositions;
    private long reservedBytes;
    private int kvLength;
    private int length;
    private int generated;
    private FinishReason finish;
    private long admittedAt;
    private long prefillEnd;

    Sequence(GenerationRequest request, GenerationListener listener, int contextLength) {
        this.request = request;
        this.listener = listener == null ? GenerationListener.NONE : listener;
        this.prompt = request.promptTokensUnsafe();
        // In long, then capped at the context: maxTokens may be Integer.MAX_VALUE ("as many as fit").
        this.limit = request.maxTokens() > 0
                ? (int) Math.min((long) prompt.length + request.maxTokens(), contextLength) : contextLength;
        this.maxTokens = limit - prompt.length;
    }

    /** Prompt tokens whose KV entries exist (computed or reused). */
    int prefilledTokens() {
        return prefilled;
    }

    /** Tokens sampled so far. */
    int generatedTokens() {
        return generated;
    }

    /** The last position (exclusive) this sequence may reach. */
    int limit() {
        return limit;
    }

    /** The positions counted for it against the memory for KV caches (0 without a cache). */
    int reservedPositions() {
        return reservedPositions;
    }

    /**
     * Counts {@code positions} of {@code bytes} for it from now on (0, 0: nothing, its cache gone) and returns the change
     * in bytes, for the scheduler's running bytes: the one place a reservation changes.
     */
    long reserve(int positions, long bytes) {
        long change = bytes - reservedBytes;
        reservedPositions = positions;
        reservedBytes = bytes;
        return change;
    }

    int[] prompt() {
        return prompt;
    }

    KvCache cache() {
        return cache;
    }

    /** Admits the sequence: {@code cache} already holds the first {@code reusedTokens} prompt positions. */
    void start(KvCache cache, int reusedTokens, Tokenizer tokenizer) {
        this.cache = cache;
        this.reused = reusedTokens;
        this.tokenizer = tokenizer;
        this.history = Arrays.copyOf(prompt, limit + 1);
        this.logits = new float[tokenizer.vocabularySize()];
        this.sampler = new Sampler(request.sampling(), logits.length);
        this.grammar = request.grammar() == null ? null
                : new GrammarMatcher(request.grammar(), GrammarVocabulary.of(tokenizer));
        this.stops = new StopStringMatcher(request.stopStrings());
        this.hasStops = !request.stopStrings().isEmpty();
        this.stopTokens = request.stopTokensUnsafe();
        this.detokenizer = new StreamingDetokenizer(tokenizer);
        this.prefilled = reusedTokens;
        this.prefillTarget = prompt.length;
        this.kvLength = reusedTokens;
        this.length = prompt.length;
        this.admittedAt = System.nanoTime();
    }

    /**
     * Whether its KV cache may start small and grow ({@link #grown}) rather than hold {@link #limit()} positions from
     * the start: a request without max tokens, which may run to the end of the context but mostly stops far earlier.
     */
    boolean growable() {
        return request.maxTokens() <= 0;
    }

    /**
     * The positions its cache must hold when it is admitted ({@link #start}, or {@link #resume} after a suspension),
     * with room for {@code replyRoom} tokens after them where the cache may grow, else its {@link #limit()}.
     */
    int admissionCapacity(int replyRoom) {
        int base = resuming ? prefillTarget + 1 : prompt.length;
        return growable() ? (int) Math.min(limit, (long) base + replyRoom) : limit;
    }

    /** Its cache is now {@code larger}, which holds the same {@link #cachedLength()} positions (copied). */
    void grown(KvCache larger) {
        if (larger.capacity() < cache.capacity()) {
            throw new IllegalStateException("a cache of " + larger.capacity() + " positions replaces one of "
                    + cache.capacity());
        }
        cache = larger;
    }

    /**
     * Takes its KV cache away between decode steps (the caller frees it; {@link #speculation}, if any, is closed):
     * resumed later ({@link #resume}), it computes the {@link #cachedLength()} positions it held again before it
     * decodes on.
     */
    KvCache suspend() {
        if (cache == null || inPrefill() || finish != null) {
            throw new IllegalStateException("only a decoding sequence can be suspended");
        }
        KvCache c = releaseCache();
        prefillTarget = kvLength;
        prefilled = 0;
        kvLength = 0;
        resuming = true;
        return c;
    }

    /** Resumes a suspended sequence in {@code fresh}: its next steps are prefill chunks over its tokens so far. */
    void resume(KvCache fresh) {
        if (!resuming || cache != null) {
            throw new IllegalStateException("not a suspended sequence");
        }
        cache = fresh;
    }

    /** True between {@link #suspend} and the end of the prefill that computes its cached tokens again. */
    boolean resuming() {
        return resuming;
    }

    /** Positions whose keys and values its cache holds: those of {@code history()[0 .. cachedLength())}. */
    int cachedLength() {
        return kvLength;
    }

    /**
     * Its cache now holds the first {@code n} prompt positions, copied from another sequence ({@link LivePrefixCopy}):
     * the prompt goes on from there, and they count as reused.
     */
    void prefixCopied(int n) {
        if (n <= prefilled || n >= prompt.length) {
            throw new IllegalStateException("a copied prefix of " + n + " tokens for a prompt of " + prompt.length
                    + " with " + prefilled + " in");
        }
        reused += n - prefilled;
        prefilled = n;
        kvLength = n;
    }

    /**
     * True while prompt tokens (or, resuming, the tokens it had cached) remain to be computed: the next step is a
     * {@link #prefillStep}.
     */
    boolean inPrefill() {
        return prefilled < prefillTarget;
    }

    /**
     * Runs the next prompt chunk (at most {@link ForwardPass#maxChunkTokens()} tokens) and, once the whole prompt
     * is in, samples and emits the first token from the last chunk's logits.
     *
     * @return true when the sequence has finished
     */
    boolean prefillStep(ForwardPass pass) {
        int n = Math.min(pass.maxChunkTokens(), prefillTarget - prefilled);
        pass.forward(cache, resuming ? history : prompt, prefilled, n, prefilled, logits); // history starts with it
        prefilled += n;
        kvLength = prefilled;
        if (prefilled < prefillTarget) {
            return false;
        }
        if (resuming) { // its cache holds what it held before the suspension: it decodes on from its last token
            resuming = false;
            return false;
        }
        prefillEnd = System.nanoTime();
        listener.onPromptProcessed(prompt.length, prefillEnd - admittedAt);
        emitNext();
        return finish != null;
    }

    /** The token the next decode step feeds: the last one sampled (its KV entry is not in the cache yet). */
    int decodeToken() {
        return history[length - 1];
    }

    /** The position of {@link #decodeToken()}. */
    int decodePosition() {
        return length - 1;
    }

    /** Where a decode step writes this sequence's logits (vocabulary size). */
    float[] logits() {
        return logits;
    }

    /**
     * Completes a decode step whose forward call has written the logits of {@link #decodeToken()} at
     * {@link #decodePosition()} into {@link #logits()}: samples and emits the next token.
     *
     * @return true when the sequence has finished
     */
    boolean acceptDecoded() {
        kvLength = length;
        emitNext();
        return finish != null;
    }

    private void emitNext() {
        if (grammar != null) {
            grammar.mask(logits, limit - length); // the tokens left: the grammar closes its value within them
        }
        int token = sampler.sample(logits, history, length);
        checkFinite(logits[token]);
        if (grammar != null) {
            grammar.accept(token);
        }
        emit(token);
    }

    /** One compare per token: NaN weights would otherwise give silent {@code <unk>}s. */
    private void checkFinite(float logit) {
        if (Float.isNaN(logit)) {
            throw new IllegalStateException("the model computed NaN logits at position " + length + " of this"
                    + " request: its weights hold NaN or infinite values (a corrupt or badly converted model file)"
                    + " or the computation overflowed; check the file against its published checksum or convert it"
                    + " again");
        }
    }

    // ------------------------------------------------------------------ speculative decoding (SpeculativeDecoding)

    /** Speculative decoding's state of this sequence (its drafter, draft length and drafts), or null. */
    SpeculativeDecoding.State speculation;

    /** The tokens so far, prompt and generated: {@code history()[0 .. length())}. Read only. */
    int[] history() {
        return history;
    }

    int length() {
        return length;
    }

    /** The most tokens a step may draft: a verification emits up to drafts + 1 tokens within the limits. */
    int draftRoom() {
        if (grammar != null) { // a constrained reply masks every token before it is sampled: no drafts
            return 0;
        }
        // a verification writes positions length - 1 .. length - 1 + drafts: within the limit and the cache
        return Math.min(Math.min(limit, cache.capacity()) - length, maxTokens - generated - 1);
    }

    /**
     * Completes a verification pass: {@code rows[i]} are the logits after {@code tokens[i]} at position
     * {@link #decodePosition()} + i, where {@code tokens[0]} is {@link #decodeToken()} and {@code tokens[1 .. drafted]}
     * the drafts. Emits tokens while the sampler accepts the drafts ({@link Sampler#verify}), then the token it chose
     * instead, or after all of them one more from the last row; stops early when the sequence finishes. Only emitted
     * tokens count as cached: the KV rows of rejected drafts are overwritten by the next step.
     *
     * @return how many drafts were accepted
     */
    int acceptVerified(float[][] rows, int[] tokens, int drafted) {
        int accepted = 0;
        for (int i = 0; i <= drafted && finish == null; i++) {
            kvLength = length; // tokens[i], at position length - 1, is in the cache
            int token = i < drafted ? sampler.verify(rows[i], history, length, tokens[i + 1])
                    : sampler.sample(rows[i], history, length);
            checkFinite(rows[i][token]);
            emit(token);
            if (i == drafted || token != tokens[i + 1]) {
                break;
            }
            accepted++;
        }
        return accepted;
    }

    private void emit(int token) {
        history[length++] = token;
        generated++;
        if (tokenizer.isEndOfGeneration(token) || contains(stopTokens, token)) {
            listener.onToken(token);
            finish = FinishReason.STOP;
            return;
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
            return;
        }
        if (generated >= maxTokens || length >= limit) {
            finish = FinishReason.LENGTH;
        } else if (listener.isCancelled()) {
            finish = FinishReason.CANCELLED;
        }
    }

    /** Ends the sequence as cancelled (between steps, or before it was admitted). */
    void cancel() {
        finish = FinishReason.CANCELLED;
    }

    FinishReason finishReason() {
        return finish;
    }

    /** Flushes held-back text (not after a cancellation) and builds the result. */
    GenerationResult finish() {
        if (admittedAt == 0) { // cancelled in the queue
            long now = System.nanoTime();
            return new GenerationResult(prompt.clone(), new int[0], "", FinishReason.CANCELLED, 0, 0, 0,
                    now - submittedAt);
        }
        if (finish != FinishReason.CANCELLED) {
            if (finish != FinishReason.STOP || !hasStops) {
                text.append(detokenizer.flush());
            }
            if (emitted < text.length()) {
                String rest = text.substring(emitted);
                emitted = text.length();
                listener.onText(rest);
            }
        }
        long end = System.nanoTime();
        long prefillNanos = (prefillEnd == 0 ? end : prefillEnd) - admittedAt;
        long decodeNanos = prefillEnd == 0 ? 0 : end - prefillEnd;
        return new GenerationResult(prompt.clone(), Arrays.copyOfRange(history, prompt.length, length),
                text.toString(), finish, prefillNanos, decodeNanos, reused, admittedAt - submittedAt);
    }

    /** The tokens whose keys and values the KV cache holds (positions 0..n-1). */
    int[] cachedTokens() {
        return Arrays.copyOf(history, kvLength);
    }

    /** Hands the KV cache over (to the prefix cache or to be closed); the sequence no longer refers to it. */
    KvCache releaseCache() {
        if (speculation != null) {
            speculation.close(); // the drafter's own state (a draft model's KV cache)
            speculation = null;
        }
        KvCache c = cache;
        cache = null;
        return c;
    }

    private static boolean contains(int[] values, int v) {
        for (int x : values) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }
}

package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.testing.DelegatingForwardPass;
import io.offload4j.tokenizer.Tokenizer;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.function.Function;

/**
 * Test engines whose replies are scripted: a real model runs (tokenizer, chat template, scheduler, KV caches,
 * sampler, stop handling, streaming all work as usual), but its forward pass is wrapped so that, once a
 * sequence's text ends where the script wants to answer, the logits are overwritten to make the scripted
 * reply's tokens, then end-of-sequence, the only possible choice (any sampler picks them).
 *
 * <p>How a reply is chosen: after every forward call the wrapper knows the sequence's whole token history (it
 * records the tokens of each KV cache by position, so prefix reuse and chunked prefill are followed). While no
 * reply is being forced, it decodes the history and asks the script; a non-null answer is tokenized (no BOS)
 * and forced from the next token on. The script typically answers only when the text ends with the chat
 * template's generation prompt, e.g. {@code <|im_start|>assistant\n}, and picks the reply from the last turn.
 */
public final class ScriptedEngines {

    private ScriptedEngines() {}

    /** Loads {@code model} with scripted replies; {@code script} maps the text so far to a reply, or null. */
    public static InferenceEngine load(Path model, EngineOptions options, Function<String, String> script) {
        return InferenceEngine.load(model, options, (pass, tokenizer) -> new ForcingPass(pass, tokenizer, script));
    }

    /**
     * Copies a GGUF model, replacing its chat template ({@code tokenizer.chat_template}) — e.g. stories260K with
     * Qwen 2.5's template, to test tool calls through a real template on a tiny real model.
     */
    public static Path withChatTemplate(Path source, Path target, String template) {
        try (GgufFile in = GgufFile.open(source)) {
            GgufWriter w = new GgufWriter();
            w.putAll(in.metadata());
            w.putString("tokenizer.chat_template", template);
            for (GgufTensorInfo t : in.tensors().values()) {
                MemorySegment data = in.tensorData(t);
                w.addTensor(t.name(), t.type(), t.dims(), dst -> dst.copyFrom(data));
            }
            w.write(target);
        }
        return target;
    }

    private static final class ForcingPass extends DelegatingForwardPass {
        private final Tokenizer tokenizer;
        private final Function<String, String> script;

        ForcingPass(ForwardPass pass, Tokenizer tokenizer, Function<String, String> script) {
            super(pass);
            this.tokenizer = tokenizer;
            this.script = script;
        }

        @Override
        public void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits) {
            ScriptedCache scripted = (ScriptedCache) cache;
            pass.forward(scripted.inner, tokens, offset, count, startPos, logits);
            History h = scripted.history;
            if (h.replyStart >= 0 && !(count == 1 && startPos == h.length && startPos - h.replyStart < h.forced.length
                    && tokens[offset] == h.forced[startPos - h.replyStart])) {
                h.replyStart = -1; // not the forced reply being fed back: another request continues this cache
                h.forced = null;
            }
            h.truncate(startPos);
            for (int i = 0; i < count; i++) {
                h.add(tokens[offset + i]);
            }
            if (h.replyStart < 0) {
                String reply = script.apply(tokenizer.decode(Arrays.copyOf(h.tokens, h.length)));
                if (reply == null) {
                    return;
                }
                int[] replyTokens = tokenizer.encode(reply, false, false);
                h.forced = Arrays.copyOf(replyTokens, replyTokens.length + 1);
                h.forced[replyTokens.length] = tokenizer.eosToken();
                h.replyStart = h.length;
            }
            int i = h.length - h.replyStart;
            int token = i < h.forced.length ? h.forced[i] : tokenizer.eosToken();
            Arrays.fill(logits, -1e9f);
            logits[token] = 1e9f;
        }

        @Override
        public KvCache newKvCache(int capacity) {
            return new ScriptedCache(pass.newKvCache(capacity));
        }
    }

    /**
     * A KV cache and the tokens it holds: a prefix the engine copies from another cache ({@link KvCache#copyPrefix})
     * brings its tokens along, as computing them would have.
     */
    private static final class ScriptedCache implements KvCache {
        final KvCache inner;
        final History history = new History();

        ScriptedCache(KvCache inner) {
            this.inner = inner;
        }

        @Override
        public int capacity() {
            return inner.capacity();
        }

        @Override
        public int maxRewind() {
            return inner.maxRewind();
        }

        @Override
        public boolean canCopyPrefix(KvCache source) {
            return source instanceof ScriptedCache s && inner.canCopyPrefix(s.inner);
        }

        @Override
        public void copyPrefix(KvCache source, int positions) {
            KvCache.requireCopyable(this, source, positions);
            ScriptedCache s = (ScriptedCache) source;
            inner.copyPrefix(s.inner, positions);
            history.length = 0;
            history.replyStart = -1;
            history.forced = null;
            for (int i = 0; i < positions; i++) {
                history.add(s.history.tokens[i]);
            }
        }

        @Override
        public long byteSize() {
            return inner.byteSize();
        }

        @Override
        public void close() {
            inner.close();
        }
    }

    /** The tokens a KV cache holds, by position, and the reply being forced into it. */
    private static final class History {
        int[] tokens = new int[256];
        int length;
        int replyStart = -1;
        int[] forced;

        void truncate(int n) {
            length = Math.min(length, n);
        }

        void add(int token) {
            if (length == tokens.length) {
                tokens = Arrays.copyOf(tokens, length * 2);
            }
            tokens[length++] = token;
        }
    }
}

package io.offload4j.embedding;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.backend.KvCache;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.Architecture;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Embeddings from a decoder model (Qwen3-Embedding, gte-Qwen2-style): each text tokenized without BOS, the model's
 * end-of-text token appended, run causally (or bidirectionally when the model says so: every token sees the whole
 * text); the final hidden state after the output norm is pooled (as the model's sentence-transformers or GGUF
 * pooling says, else the last token, whose state has seen the whole text) and scaled to unit length. Texts are packed
 * into passes of up to {@code batchTokens} tokens, each in its own KV cache, and the output head is never computed.
 */
public final class DecoderEmbedder implements TextEmbedder {

    private final DecoderRuntime runtime;
    private final Pooling pooling;
    private final boolean normalize;
    /** What follows {@code Query:} in an instructed query: "" (Qwen3-Embedding) or " " (gte-Qwen2). */
    private final String querySeparator;
    private final int passTokens;
    private final int[] tokens;
    private final int[] lengths;
    private final float[] hidden;

    DecoderEmbedder(Path path, EmbeddingOptions options) {
        this.runtime = new DecoderRuntime(path, options);
        try {
            this.pooling = options.pooling() != null ? options.pooling() : modelPooling(runtime);
        } catch (RuntimeException e) {
            runtime.close();
            throw e;
        }
        this.normalize = options.normalize() == null || options.normalize();
        this.querySeparator = querySeparator(runtime);
        if (pooling == Pooling.CLS && !runtime.bidirectional) {
            runtime.close();
            throw new IllegalArgumentException("CLS pooling needs an encoder or a bidirectional model; a causal"
                    + " decoder's first token sees only itself (use last or mean)");
        }
        this.passTokens = runtime.pass.maxChunkTokens();
        this.tokens = new int[passTokens];
        this.lengths = new int[passTokens];
        this.hidden = new float[passTokens * dimension()];
    }

    /**
     * gte-Qwen2's card writes a query {@code Instruct: {task}\nQuery: {query}} (a space after the colon), Qwen3-Embedding's
     * {@code ...\nQuery:{query}}. A directory's {@code config_sentence_transformers.json} query prompt shows which
     * (both models ship one); without it a {@code qwen2} model is taken for gte-Qwen2 and any other for Qwen3-Embedding.
     */
    @Override
    public String instructed(String instruction, String query) {
        return "Instruct: " + instruction + "\nQuery:" + querySeparator + query;
    }

    private static String querySeparator(DecoderRuntime runtime) {
        Path st = runtime.model.path().resolve("config_sentence_transformers.json");
        if (!runtime.model.isGguf() && Files.isRegularFile(st)) {
            try {
                String prompt = new ObjectMapper().readTree(st.toFile()).path("prompts").path("query").asText("");
                int at = prompt.lastIndexOf("\nQuery:");
                if (at >= 0) {
                    return prompt.substring(at + "\nQuery:".length());
                }
            } catch (IOException e) {
                throw new ModelFormatException(st, "cannot be read as JSON: " + e.getMessage(), e);
            }
        }
        return runtime.model.config().architecture() == Architecture.QWEN2 ? " " : "";
    }

    /**
     * The pooling the model says: a directory's sentence-transformers Pooling module (gte-Qwen2 and Qwen3-Embedding
     * ship {@code pooling_mode_lasttoken}), a GGUF's {@code <arch>.pooling_type} as llama.cpp's converter writes it
     * from that module (1 mean, 2 CLS, 3 last); the last token when neither says.
     */
    private static Pooling modelPooling(DecoderRuntime runtime) {
        if (!runtime.model.isGguf()) {
            return SentenceTransformersConfig.read(runtime.model.path()).map(SentenceTransformersConfig::pooling)
                    .orElse(Pooling.LAST);
        }
        io.offload4j.gguf.GgufMetadata md = runtime.model.metadata();
        String key = md.optString("general.architecture").orElse("") + ".pooling_type";
        return switch (md.has(key) ? md.getInt(key) : 3) {
            case 1 -> Pooling.MEAN;
            case 2 -> Pooling.CLS;
            default -> Pooling.LAST; // 3; 0 (none) and 4 (rank) are no pooling of an embedding
        };
    }

    public Pooling pooling() {
        return pooling;
    }

    @Override
    public int dimension() {
        return runtime.model.config().embeddingLength();
    }

    @Override
    public String modelName() {
        return runtime.model.config().name();
    }

    /** A text's ids as the model sees them: no BOS, cut to the limit, the end-of-text token last. */
    public int[] tokenize(String text) {
        int[] ids = runtime.tokenizer.encode(text, false, false);
        int end = runtime.endToken;
        int room = end >= 0 ? runtime.maxTokens - 1 : runtime.maxTokens;
        int n = Math.min(ids.length, room);
        int[] out = Arrays.copyOf(ids, end >= 0 ? n + 1 : Math.max(n, 1));
        if (end >= 0) {
            out[n] = end;
        } else if (n == 0) {
            out[0] = runtime.tokenizer.eosToken() >= 0 ? runtime.tokenizer.eosToken() : 0;
        }
        return out;
    }

    @Override
    public int tokenCount(String text) {
        return tokenize(text).length;
    }

    @Override
    public synchronized List<float[]> embed(List<String> texts, int[] tokenCounts) {
        List<int[]> inputs = new ArrayList<>(texts.size());
        for (int k = 0; k < texts.size(); k++) {
            int[] ids = tokenize(texts.get(k));
            inputs.add(ids);
            if (tokenCounts != null) {
                tokenCounts[k] = ids.length;
            }
        }
        int dim = dimension();
        float[][] out = new float[texts.size()][];
        int i = 0;
        while (i < inputs.size()) {
            int from = i;
            int rows = 0;
            int n = 0;
            while (i < inputs.size() && rows + inputs.get(i).length <= passTokens) {
                int[] ids = inputs.get(i);
                System.arraycopy(ids, 0, tokens, rows, ids.length);
                lengths[n++] = ids.length;
                rows += ids.length;
                i++;
            }
            KvCache[] caches = new KvCache[n];
            try {
                for (int s = 0; s < n; s++) {
                    caches[s] = runtime.newCache(lengths[s]);
                }
                runtime.pass.forwardHidden(caches, tokens, lengths, n, hidden, runtime.bidirectional);
            } finally {
                for (KvCache c : caches) {
                    if (c != null) {
                        c.close();
                    }
                }
            }
            int row = 0;
            for (int s = 0; s < n; s++) {
                float[] v = new float[dim];
                pooling.pool(hidden, row, lengths[s], dim, v);
                if (normalize) {
                    Pooling.normalize(v);
                }
                out[from + s] = v;
                row += lengths[s];
            }
        }
        return List.of(out);
    }

    @Override
    public void close() {
        runtime.close();
    }
}

package io.offload4j.embedding;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.engine.ModelFiles;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.Model;
import io.offload4j.offload.TieredPasses;
import io.offload4j.tokenizer.Tokenizer;
import io.offload4j.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A decoder model (Qwen3, Qwen2, Llama ...) loaded for embeddings or re-ranking: the weights, the tokenizer and a
 * forward pass prepared as for chat (CPU, or the GPU with what does not fit streamed or on the CPU), without the
 * chat engine's scheduler. Calls are serialised.
 */
final class DecoderRuntime implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("io.offload4j.embedding");
    /** The longest input when the options leave it open: passages, not books. */
    static final int DEFAULT_MAX_TOKENS = 512;

    final Model model;
    final Tokenizer tokenizer;
    final ForwardPass pass;
    final int maxTokens;
    /** The token that ends every embedded text (its hidden state is the embedding), or -1. */
    final int endToken;
    /**
     * The model was trained with bidirectional attention (gte-Qwen2): each token of a text attends to all of them.
     * Said by {@code <arch>.attention.causal = false} in a GGUF (llama.cpp's key), or {@code "is_causal": false} in a
     * directory's config.json (read into the same key by {@link io.offload4j.model.HuggingFaceModels}).
     */
    final boolean bidirectional;
    private final Backend backend;

    DecoderRuntime(Path path, EmbeddingOptions options) {
        Model m = ModelFiles.load(path);
        Backend b = null;
        try {
            this.bidirectional = bidirectional(m);
            GgufMetadata md = ModelFiles.tokenizerMetadata(m);
            this.tokenizer = Tokenizers.fromGguf(md);
            int trained = m.config().contextLength();
            this.maxTokens = Math.min(trained, options.maxTokens() == 0 ? DEFAULT_MAX_TOKENS : options.maxTokens());
            int chunk = Math.max(options.batchTokens() == 0 ? EmbeddingOptions.DECODER_BATCH_TOKENS
                    : options.batchTokens(), maxTokens);
            b = Backends.create(options.device(), options.threads());
            this.pass = TieredPasses.prepare(b, m, maxTokens, chunk, options.offload());
            this.backend = b;
            this.model = m;
            this.endToken = endToken(m, md, tokenizer);
            LOG.log(System.Logger.Level.INFO, "offload4j: loaded " + m.config().name() + " for embeddings/scoring on "
                    + b.description() + ", up to " + maxTokens + " tokens per text, " + chunk + " per pass"
                    + (bidirectional ? ", bidirectional attention" : ""));
        } catch (RuntimeException | Error e) {
            if (b != null) {
                b.close();
            }
            m.close();
            throw e;
        }
    }

    /**
     * The end-of-text token decoder embedding models append (Qwen3-Embedding: {@code <|endoftext|>}): for a GGUF the
     * EOS when {@code add_eos_token} is set; for a directory the special token tokenizer.json's post-processor
     * appends, else config.json's {@code eos_token_id}, else the tokenizer's EOS.
     */
    private static int endToken(Model m, GgufMetadata md, Tokenizer tokenizer) {
        if (m.isGguf()) {
            return md.getBoolean("tokenizer.ggml.add_eos_token", false) ? tokenizer.eosToken() : -1;
        }
        JsonNode post = json(m.path().resolve("tokenizer.json")).path("post_processor");
        JsonNode single = post.path("single");
        if (single.isArray() && !single.isEmpty()) {
            JsonNode last = single.get(single.size() - 1).path("SpecialToken").path("id");
            if (last.isTextual() && single.size() > 1) {
                int id = tokenizer.tokenId(last.asText());
                if (id >= 0) {
                    return id;
                }
            }
        }
        JsonNode eos = json(m.path().resolve("config.json")).path("eos_token_id");
        if (eos.isArray()) {
            eos = eos.path(0);
        }
        return eos.isInt() ? eos.asInt() : tokenizer.eosToken();
    }

    /**
     * Whether the model says it attends bidirectionally ({@code <arch>.attention.causal} false). Such a model is
     * embedded with every text whole in one pass (a text is at most {@code maxTokens}, and a pass holds at least
     * that many tokens), so no text is ever split into causal chunks. A sliding window is refused: it has no
     * bidirectional meaning here.
     */
    private static boolean bidirectional(Model m) {
        GgufMetadata md = m.metadata();
        String key = md.optString("general.architecture").orElse("") + ".attention.causal";
        if (md.getBoolean(key, true)) {
            return false;
        }
        if (m.config().traits().hasSlidingWindow()) {
            throw new ModelFormatException(m.path(), "key '" + key + "' is false (bidirectional attention) and the"
                    + " model's blocks attend through a sliding window of " + m.config().traits().slidingWindow()
                    + " positions; the two together are not supported");
        }
        return true;
    }

    private static JsonNode json(Path file) {
        try {
            return Files.isRegularFile(file) ? new ObjectMapper().readTree(Files.readString(file))
                    : new ObjectMapper().createObjectNode();
        } catch (IOException e) {
            throw new ModelFormatException(file, "cannot be read as JSON: " + e.getMessage(), e);
        }
    }

    /** A cache for one text of {@code length} tokens, on the pass's device. */
    KvCache newCache(int length) {
        return pass.newKvCache(length);
    }

    @Override
    public void close() {
        try {
            pass.close();
            backend.close();
        } finally {
            model.close();
        }
    }
}

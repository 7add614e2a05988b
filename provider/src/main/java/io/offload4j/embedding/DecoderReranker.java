package io.offload4j.embedding;

import io.offload4j.backend.KvCache;
import java.nio.file.Path;
import java.util.List;

/**
 * Qwen3-Reranker: a causal LM asked whether a document meets a query, in the prompt its model card defines
 * ({@link #PREFIX}, {@code <Instruct>: ...\n<Query>: ...\n<Document>: ...}, {@link #SUFFIX}); the score is
 * P(yes) = softmax over the logits of the tokens "yes" and "no" at the last position. Each document is one prompt
 * pass (chunked by the pass's chunk size); the document is cut so that the whole prompt fits {@code maxTokens}.
 */
public final class DecoderReranker implements TextScorer {

    /** The model card's system turn and the opening of the user turn. */
    static final String PREFIX = "<|im_start|>system\nJudge whether the Document meets the requirements based on the"
            + " Query and the Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n"
            + "<|im_start|>user\n";
    /** The model card's end of the user turn and the assistant's empty thinking. */
    static final String SUFFIX = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n";
    /** The model card's default task. */
    public static final String DEFAULT_INSTRUCTION =
            "Given a web search query, retrieve relevant passages that answer the query";

    private final DecoderRuntime runtime;
    private final String instruction;
    private final int yes;
    private final int no;
    private final int[] prefix;
    private final int[] suffix;
    private final float[] logits;

    DecoderReranker(Path path, EmbeddingOptions options, String instruction) {
        this.runtime = new DecoderRuntime(path, options);
        if (runtime.bidirectional) {
            runtime.close();
            throw new IllegalArgumentException(path + " says it attends bidirectionally (attention.causal / is_causal"
                    + " false): an embedding model, not a re-ranker; a decoder re-ranker here is a causal"
                    + " Qwen3-Reranker-style model");
        }
        this.instruction = instruction == null || instruction.isBlank() ? DEFAULT_INSTRUCTION : instruction;
        this.yes = runtime.tokenizer.tokenId("yes");
        this.no = runtime.tokenizer.tokenId("no");
        if (yes < 0 || no < 0) {
            runtime.close();
            throw new IllegalArgumentException(path + " has no \"yes\"/\"no\" tokens in its vocabulary; a decoder"
                    + " re-ranker here is a Qwen3-Reranker-style model");
        }
        this.prefix = runtime.tokenizer.encode(PREFIX, false, true);
        this.suffix = runtime.tokenizer.encode(SUFFIX, false, true);
        this.logits = new float[runtime.model.config().vocabularySize()];
    }

    @Override
    public String modelName() {
        return runtime.model.config().name();
    }

    /** The prompt's ids for one (query, document) pair. */
    public int[] tokenize(String query, String document) {
        String head = "<Instruct>: " + instruction + "\n<Query>: " + query + "\n<Document>: ";
        int[] h = runtime.tokenizer.encode(head, false, false);
        int[] d = runtime.tokenizer.encode(document, false, false);
        int room = Math.max(0, runtime.maxTokens - prefix.length - suffix.length - h.length);
        int nd = Math.min(d.length, room);
        int[] ids = new int[prefix.length + h.length + nd + suffix.length];
        int i = 0;
        System.arraycopy(prefix, 0, ids, i, prefix.length);
        i += prefix.length;
        System.arraycopy(h, 0, ids, i, h.length);
        i += h.length;
        System.arraycopy(d, 0, ids, i, nd);
        i += nd;
        System.arraycopy(suffix, 0, ids, i, suffix.length);
        return ids;
    }

    @Override
    public synchronized float[] score(String query, List<String> documents) {
        float[] scores = new float[documents.size()];
        int chunk = runtime.pass.maxChunkTokens();
        for (int k = 0; k < documents.size(); k++) {
            int[] ids = tokenize(query, documents.get(k));
            if (ids.length > runtime.pass.maxContext()) {
                throw new IllegalArgumentException("the query alone makes a prompt of " + ids.length
                        + " tokens, more than the " + runtime.pass.maxContext() + " this re-ranker takes (maxTokens)");
            }
            try (KvCache cache = runtime.newCache(ids.length)) {
                for (int at = 0; at < ids.length; at += chunk) {
                    runtime.pass.forward(cache, ids, at, Math.min(chunk, ids.length - at), at, logits);
                }
            }
            scores[k] = (float) (1 / (1 + Math.exp(logits[no] - logits[yes])));
        }
        return scores;
    }

    @Override
    public void close() {
        runtime.close();
    }
}

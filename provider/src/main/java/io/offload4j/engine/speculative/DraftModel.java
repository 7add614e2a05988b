package io.offload4j.engine.speculative;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.tokenizer.Tokenizer;
import java.nio.file.Path;

/**
 * A small model with the target's vocabulary as the drafter (Qwen2.5-0.5B for Qwen2.5-7B, Llama-3.2-1B for
 * Llama-3.1-8B): each sequence gets a KV cache of the draft model, and a draft is the draft model's greedy
 * continuation, one token per draft pass. The draft model's pass is prepared by the engine like the target's (on the
 * CPU, or wholly resident on the GPU, before the target takes the rest of the GPU's memory); this class owns it from
 * then on and closes it.
 */
public final class DraftModel implements DrafterFactory {

    private final ForwardPass pass;
    private final AutoCloseable owned;
    private final String name;

    /**
     * @param pass  the draft model's forward pass
     * @param owned closed after the pass (the draft model's file mapping), may be null
     * @param name  for logs and errors: the draft model's file
     */
    public DraftModel(ForwardPass pass, AutoCloseable owned, String name) {
        this.pass = pass;
        this.owned = owned;
        this.name = name;
    }

    /**
     * Refuses a draft model whose vocabulary is not the target's: token ids must mean the same text in both, or the
     * drafts would be other words (correct output still, but nothing accepted).
     */
    public static void checkVocabulary(Tokenizer target, Path targetPath, Tokenizer draft, Path draftPath) {
        if (target.vocabularySize() != draft.vocabularySize()) {
            throw new IllegalArgumentException("the draft model " + draftPath + " has a vocabulary of "
                    + draft.vocabularySize() + " tokens, the model " + targetPath + " one of " + target.vocabularySize()
                    + "; a draft model must share the target's vocabulary (a smaller model of the same family, e.g."
                    + " Qwen2.5-0.5B for Qwen2.5-7B, Llama-3.2-1B for Llama-3.1-8B)");
        }
        for (int id = 0; id < target.vocabularySize(); id++) {
            String a = target.tokenText(id);
            String b = draft.tokenText(id);
            if (!a.equals(b)) {
                throw new IllegalArgumentException("the draft model " + draftPath + " and the model " + targetPath
                        + " have vocabularies of " + target.vocabularySize() + " tokens, but token " + id + " is '"
                        + b + "' in the draft model and '" + a + "' in the model; a draft model must share the"
                        + " target's vocabulary (a smaller model of the same family)");
            }
        }
    }

    /** The draft model's forward pass. */
    public ForwardPass pass() {
        return pass;
    }

    @Override
    public Drafter open(int capacity) {
        return new Session(pass.newKvCache(Math.min(capacity, pass.maxContext())));
    }

    @Override
    public String description() {
        return "draft model " + name;
    }

    @Override
    public void close() {
        try {
            pass.close();
        } finally {
            if (owned != null) {
                try {
                    owned.close();
                } catch (Exception e) {
                    throw new IllegalStateException("closing the draft model " + name + " failed", e);
                }
            }
        }
    }

    /**
     * One sequence's drafting: the draft model's KV cache, and the tokens fed into it per position, so that after a
     * rejection the cache is continued from the first position where the sequence differs from what was fed (the
     * rows after it are simply overwritten).
     */
    private final class Session implements Drafter {
        private final KvCache cache;
        private final int[] fed;
        private final float[] logits;
        private int valid;          // positions 0..valid-1 of the cache hold fed[0..valid)

        Session(KvCache cache) {
            this.cache = cache;
            this.fed = new int[cache.capacity()];
            this.logits = new float[pass.config().vocabularySize()];
        }

        @Override
        public int draft(int[] history, int length, int max, int[] out) {
            int room = cache.capacity() - length; // the last draft token is proposed, never fed
            int k = Math.min(max, room + 1);
            if (k < 1 || length < 1) {
                return 0;
            }
            int same = 0;
            int limit = Math.min(valid, length);
            while (same < limit && fed[same] == history[same]) {
                same++;
            }
            valid = Math.min(same, length - 1); // the last token is always fed: its logits give the first draft
            // catch up on the sequence up to its last token, whose logits give the first draft token
            int chunk = pass.maxChunkTokens();
            while (valid < length) {
                int n = Math.min(chunk, length - valid);
                pass.forward(cache, history, valid, n, valid, logits);
                System.arraycopy(history, valid, fed, valid, n);
                valid += n;
            }
            for (int i = 0; i < k; i++) {
                int token = argmax(logits);
                out[i] = token;
                if (i + 1 < k) {
                    pass.forward(cache, out, i, 1, valid, logits);
                    fed[valid++] = token;
                }
            }
            return k;
        }

        @Override
        public void close() {
            cache.close();
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}

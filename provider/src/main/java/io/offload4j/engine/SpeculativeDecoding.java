package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.engine.speculative.AdaptiveDraftLength;
import io.offload4j.engine.speculative.Drafter;
import io.offload4j.engine.speculative.DrafterFactory;
import io.offload4j.engine.speculative.PassCosts;
import io.offload4j.engine.speculative.SpeculativeCounters;

/**
 * Speculative decoding in the scheduler: before a decode step each sequence drafts up to k tokens (k from its
 * {@link AdaptiveDraftLength}); a sequence with drafts is verified by a {@link ForwardPass#forwardAll} pass of its own
 * (its last token and the drafts, every row's logits), and the {@link Sampler} accepts drafts from those logits by
 * the speculative sampling rule; a sequence without drafts decodes in the batched step as before.
 *
 * <p>Why a pass of its own rather than rows in the shared batched step: a sequence's drafts are a chunk of
 * consecutive positions in one KV cache, which the prompt path of every device runs (with tensor cores from 16
 * rows, and on the GPU with one copy of each streamed weight for all rows); a batch row is one position of its own
 * sequence. Mixing both in one step would need a step of mixed rows on every device. The cost: with several
 * sequences drafting, each streams the weights once per step rather than once for all (documented in the README).
 *
 * <p><b>Pass costs</b> ({@link PassCosts}, one table for the engine, which every sequence's {@link AdaptiveDraftLength}
 * reads): a verification of k drafts is timed as a pass of k + 1 rows; a plain decode step as a pass of 1 row, but
 * with continuous batching n sequences share one {@code forwardBatch} step, so what one of them pays for its token is
 * the step's time divided by n, and that share is what is recorded as the cost of 1 row (the step's n rows are not a
 * pass of n rows in the table's sense: its rows are n sequences' one position each, computed on another route than a
 * verification's chunk). So a sequence drafts when its verification, a pass of its own, yields tokens faster than
 * its share of the batched step does: with one sequence running that is the plain decode step; with many, a decode
 * row is cheap (the weights stream once for all of them) and drafting must pay more to win. The share mixes batch
 * sizes as sequences come and go (an estimate, smoothed like the others).
 *
 * <p>Buffers are allocated once (the verification rows here; per sequence its drafts, at admission); a step
 * allocates nothing. Confined to the scheduler thread.
 */
final class SpeculativeDecoding implements AutoCloseable {

    private final DrafterFactory drafters;
    private final int maxDraft;
    private final float[][] rows;
    private final PassCosts costs;
    final SpeculativeCounters counters;

    /**
     * @param maxDraft the most tokens a step drafts; at most the pass's chunk less one (the verification also feeds
     *                 the last token)
     */
    SpeculativeDecoding(DrafterFactory drafters, int maxDraft, ForwardPass pass, SpeculativeCounters counters) {
        if (pass.maxChunkTokens() < 2) {
            throw new IllegalArgumentException("speculative decoding verifies the last token and at least one draft in"
                    + " one pass, so it needs a prompt chunk of at least 2 tokens (chunkTokens), not "
                    + pass.maxChunkTokens());
        }
        this.drafters = drafters;
        this.maxDraft = Math.min(maxDraft, pass.maxChunkTokens() - 1);
        this.rows = new float[this.maxDraft + 1][pass.config().vocabularySize()];
        this.costs = new PassCosts(this.maxDraft + 1);
        this.counters = counters;
    }

    /**
     * The most tokens a step drafts. A verification writes the rows of all of them; after its rejected ones, up to
     * this many rows past the sequence's cached tokens hold keys and values of tokens it did not keep.
     */
    int maxDraft() {
        return maxDraft;
    }

    /** A new sequence's state (its drafter among it); closed with the sequence's KV cache. */
    State open(int capacity) {
        return new State(drafters.open(capacity), new AdaptiveDraftLength(maxDraft, costs), maxDraft);
    }

    /**
     * Drafts the next tokens of {@code s} (decoding, past its prompt). Returns true when it is to be verified (it
     * has drafts, or its drafter failed: {@link #verify} fails it), false when it decodes plainly.
     */
    boolean draft(Sequence s) {
        State state = s.speculation;
        state.drafted = 0;
        int k = Math.min(state.length.next(), s.draftRoom());
        if (k <= 0) {
            return false;
        }
        try {
            int n = state.drafter.draft(s.history(), s.length(), k, state.drafts);
            if (n < 0 || n > k) {
                throw new IllegalStateException("the drafter " + drafters.description() + " proposed " + n
                        + " tokens when asked for at most " + k);
            }
            System.arraycopy(state.drafts, 0, state.tokens, 1, n);
            state.drafted = n;
            return n > 0;
        } catch (RuntimeException | Error e) {
            state.error = e;
            return true;
        }
    }

    /**
     * Verifies the drafts of {@code s} in one pass and emits the accepted tokens and the one after them.
     *
     * @return true when the sequence has finished
     */
    boolean verify(Sequence s, ForwardPass pass) {
        State state = s.speculation;
        if (state.error != null) {
            Throwable e = state.error;
            state.error = null;
            if (e instanceof Error error) {
                throw error;
            }
            throw (RuntimeException) e;
        }
        int k = state.drafted;
        state.tokens[0] = s.decodeToken();
        long t0 = System.nanoTime();
        pass.forwardAll(s.cache(), state.tokens, 0, k + 1, s.decodePosition(), rows);
        long nanos = System.nanoTime() - t0;
        costs.record(k + 1, nanos);
        int accepted = s.acceptVerified(rows, state.tokens, k);
        state.length.record(k, accepted);
        counters.verified(k, accepted, nanos);
        return s.finishReason() != null;
    }

    /** A batched decode step of {@code n} sequences without drafts took {@code nanos} (the class comment: a share). */
    void decoded(int n, long nanos) {
        costs.record(1, nanos / n);
    }

    /** This engine's pass costs (tests). */
    PassCosts costs() {
        return costs;
    }

    @Override
    public void close() {
        drafters.close();
    }

    /** One sequence's drafting: its drafter, adaptive draft length, and the tokens of its next verification. */
    static final class State implements AutoCloseable {
        final Drafter drafter;
        final AdaptiveDraftLength length;
        final int[] drafts;
        /** The verification's tokens: the last token, then the drafts. */
        final int[] tokens;
        int drafted;
        Throwable error;

        State(Drafter drafter, AdaptiveDraftLength length, int maxDraft) {
            this.drafter = drafter;
            this.length = length;
            this.drafts = new int[maxDraft];
            this.tokens = new int[maxDraft + 1];
        }

        @Override
        public void close() {
            drafter.close();
        }
    }
}

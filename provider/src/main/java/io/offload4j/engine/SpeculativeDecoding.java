package io.offload4j.engine;

import io.offload4j.backend.ForwardPass;
import io.offload4j.engine.speculative.AdaptiveDraftLength;
import io.offload4j.engine.speculative.Drafter;
import io.offload4j.engine.speculative.DrafterFactory;
import io.offload4j.engine.speculative.PassCosts;
import io.offload4j.engine.speculative.SpeculativeCounters;
import java.util.Arrays;

/**
 * Speculative decoding in the scheduler: before a decode step each sequence drafts up to k tokens (k from its
 * {@link AdaptiveDraftLength}); a sequence with drafts puts its last token and the drafts as consecutive rows into
 * the step that decodes the others (a <em>mixed step</em>, one {@link ForwardPass#forwardBatch} call: every streamed
 * weight crosses PCIe once for all the rows), and the {@link Sampler} accepts drafts from those rows' logits by the
 * speculative sampling rule; a sequence without drafts has its one row, as without a drafter.
 *
 * <p><b>Pass costs</b> ({@link PassCosts}, measured as the engine runs, read by every sequence's
 * {@link AdaptiveDraftLength}) come in two tables, because a step of one sequence and a step of several do not cost
 * the same for the same rows: with a GPU budget, a lone sequence's step of up to a few rows may run some blocks on the
 * CPU (each weight read once for all its rows), while a step of several sequences streams those blocks. So:
 * <ul>
 *   <li>{@link #soloCosts()}: a step of one decoding sequence, by its rows (1: a plain decode step, k + 1: a
 *       verification of k drafts);</li>
 *   <li>{@link #sharedCosts()}: a step of several sequences, by all its rows.</li>
 * </ul>
 * Within a shared step the sequences choose in turn, each the k that gives the step the most expected tokens per
 * unit of time given the rows and tokens of those before it ({@link AdaptiveDraftLength#next(PassCosts, int, double,
 * int)}): where extra rows are nearly free (streamed weights, a memory-bound GPU) they draft; where they cost (the
 * CPU, whose work grows with the rows) fewer draft. No sequence drafts until a plain step of this many sequences has
 * been measured.
 *
 * <p><b>Memory.</b> A sequence's first row's logits go where a plain step's would ({@link Sequence#logits()}); the
 * drafts' rows come from a pool of {@link #POOL_ROWS} rows (vocabulary-sized; at least max-draft), allocated once, so
 * that many sequences running do not each hold max-draft rows of logits. When a step has used the pool, the sequences
 * after take fewer drafts or none.
 *
 * <p>Allocation-free per step; confined to the scheduler thread.
 */
final class SpeculativeDecoding implements AutoCloseable {

    /**
     * The drafted rows a step may hold beyond one per sequence (at least one full draft): the pool of logits rows, each
     * a vocabulary of floats (0.6 MB for 152k tokens, so 19 MB for the pool). 32 rows are four sequences' default
     * drafts of 8: speculative decoding pays most when few sequences run, and a step of many more rows gains little.
     */
    static final int POOL_ROWS = 32;

    private final DrafterFactory drafters;
    private final int maxDraft;
    private final float[][] pool;
    private final PassCosts solo;
    private final PassCosts shared;
    final SpeculativeCounters counters;

    // the step being built: its sequences, rows and expected tokens so far, and the pool rows taken
    private boolean stepDrafts;
    private boolean stepAlone;
    private int stepRows;
    private double stepTokens;
    private int poolUsed;

    /**
     * @param maxDraft     the most tokens a step drafts; at most the pass's chunk less one (a verification also feeds
     *                     the last token)
     * @param maxSequences the most sequences a step decodes
     */
    SpeculativeDecoding(DrafterFactory drafters, int maxDraft, int maxSequences, ForwardPass pass,
                        SpeculativeCounters counters) {
        if (pass.maxChunkTokens() < 2) {
            throw new IllegalArgumentException("speculative decoding verifies the last token and at least one draft in"
                    + " one pass, so it needs a prompt chunk of at least 2 tokens (chunkTokens), not "
                    + pass.maxChunkTokens());
        }
        this.drafters = drafters;
        this.maxDraft = Math.min(maxDraft, pass.maxChunkTokens() - 1);
        int poolRows = Math.max(this.maxDraft, Math.min(this.maxDraft * maxSequences, POOL_ROWS));
        this.pool = new float[poolRows][pass.config().vocabularySize()];
        this.solo = new PassCosts(this.maxDraft + 1);
        this.shared = new PassCosts(maxSequences + poolRows);
        this.counters = counters;
    }

    /**
     * The most tokens a step drafts. A verification writes the rows of all of them; after its rejected ones, up to
     * this many rows past the sequence's cached tokens hold keys and values of tokens it did not keep.
     */
    int maxDraft() {
        return maxDraft;
    }

    /** The most rows a step can have beyond one per sequence: the pool's. */
    int maxDraftRowsPerStep() {
        return pool.length;
    }

    /** A new sequence's state (its drafter among it); closed with the sequence's KV cache. */
    State open(int capacity) {
        return new State(drafters.open(capacity), new AdaptiveDraftLength(maxDraft, solo), maxDraft);
    }

    /** A decode step of {@code sequences} sequences is being built: they draft next ({@link #draft}). */
    void beginStep(int sequences) {
        stepAlone = sequences == 1;
        // a shared step's sequences wait until a plain step of as many has been timed (alone: AdaptiveDraftLength's
        // own rule): before, nothing would be compared
        stepDrafts = stepAlone || shared.measured(sequences);
        stepRows = sequences;
        stepTokens = sequences;
        poolUsed = 0;
    }

    /**
     * Drafts the next tokens of {@code s} (decoding, past its prompt), into its {@link State#tokens} after its last
     * token, with its rows' logits arrays in {@link State#rows}. Returns how many it drafted (0: a plain row), or -1
     * when its drafter failed ({@link State#failure} says how; the sequence fails alone).
     */
    int draft(Sequence s) {
        State state = s.speculation;
        state.drafted = 0;
        state.tokens[0] = s.decodeToken();
        state.rows[0] = s.logits();
        if (!stepDrafts) {
            return 0;
        }
        int limit = Math.min(Math.min(s.draftRoom(), pool.length - poolUsed), shared.maxRows() - stepRows);
        int k = stepAlone ? state.length.next(limit)
                : state.length.next(shared, stepRows - 1, stepTokens - 1, limit);
        if (k <= 0) {
            return 0;
        }
        try {
            int n = state.drafter.draft(s.history(), s.length(), k, state.drafts);
            if (n < 0 || n > k) {
                throw new IllegalStateException("the drafter " + drafters.description() + " proposed " + n
                        + " tokens when asked for at most " + k);
            }
            System.arraycopy(state.drafts, 0, state.tokens, 1, n);
            for (int i = 1; i <= n; i++) {
                state.rows[i] = pool[poolUsed++];
            }
            state.drafted = n;
            stepRows += n;
            stepTokens += state.length.expectedTokens(n) - 1;
            return n;
        } catch (RuntimeException | Error e) {
            state.failure = e;
            return -1;
        }
    }

    /**
     * A step of {@code sequences} sequences and {@code rows} rows (their plain rows and drafts) took {@code nanos}:
     * the cost of that many rows in the solo or the shared table.
     */
    void stepTook(int sequences, int rows, long nanos) {
        costs(sequences == 1).record(rows, nanos);
    }

    /**
     * After the step (of {@code nanos}): emits the tokens of {@code s}, which drafted in it and whose rows' logits the
     * step wrote: the drafts it accepts and the token after them.
     *
     * @return true when the sequence has finished
     */
    boolean accept(Sequence s, long nanos) {
        State state = s.speculation;
        int k = state.drafted;
        int accepted;
        try {
            accepted = s.acceptVerified(state.rows, state.tokens, k);
        } finally {
            Arrays.fill(state.rows, 1, k + 1, null); // the pool's rows are the next step's
        }
        state.length.record(k, accepted);
        counters.verified(k, accepted, nanos);
        return s.finishReason() != null;
    }

    private PassCosts costs(boolean alone) {
        return alone ? solo : shared;
    }

    /** The cost table of steps of one sequence (tests). */
    PassCosts soloCosts() {
        return solo;
    }

    /** The cost table of steps of several sequences (tests). */
    PassCosts sharedCosts() {
        return shared;
    }

    @Override
    public void close() {
        drafters.close();
    }

    /** One sequence's drafting: its drafter, adaptive draft length, and the rows of its next step. */
    static final class State implements AutoCloseable {
        final Drafter drafter;
        final AdaptiveDraftLength length;
        final int[] drafts;
        /** The step's tokens of this sequence: its last token, then the drafts. */
        final int[] tokens;
        /** Where the step writes the logits of each of those tokens. */
        final float[][] rows;
        int drafted;
        /** The drafter's failure in this step, or null. */
        Throwable failure;

        State(Drafter drafter, AdaptiveDraftLength length, int maxDraft) {
            this.drafter = drafter;
            this.length = length;
            this.drafts = new int[maxDraft];
            this.tokens = new int[maxDraft + 1];
            this.rows = new float[maxDraft + 1][];
        }

        @Override
        public void close() {
            drafter.close();
        }
    }
}

package io.offload4j.backend;

/**
 * The step a device is asked to run: its phase and, per row of the activation matrix, the token, the position and
 * the KV cache of the sequence the row belongs to (a prompt chunk's rows share one cache at consecutive positions; a
 * batch's rows each have their own).
 *
 * <p>Mutable and reused by the pass that owns it, rather than a record made per step: the per-token loop allocates
 * nothing. A device reads it during the step and never keeps it.
 */
public final class Step {

    private Phase phase = Phase.PROMPT;
    private int rows;
    private int outputs;
    private final int[] tokens;
    private final int[] positions;
    private final KvCache[] caches;
    /** Sequences of a packed step (see {@link #packed}); 0 for the other kinds. */
    private int segments;
    private final int[] segmentStart;
    private final int[] segmentLength;
    /** The step produces its rows' final hidden states instead of logits (no output head). */
    private boolean hiddenOutputs;
    /** The packed sequences attend bidirectionally: each row to every row of its sequence (see {@link #packed}). */
    private boolean bidirectional;

    /** @param maxRows the most rows a step may have: the larger of a prompt chunk and a decode batch */
    public Step(int maxRows) {
        this.tokens = new int[maxRows];
        this.positions = new int[maxRows];
        this.caches = new KvCache[maxRows];
        this.segmentStart = new int[maxRows];
        this.segmentLength = new int[maxRows];
    }

    /**
     * A prompt chunk (or one decode token) of one sequence: {@code tokens[offset .. offset+count)} at positions
     * {@code startPos ..} of {@code cache}; only the last row's logits are produced.
     */
    public Step prompt(Phase phase, KvCache cache, int[] source, int offset, int count, int startPos) {
        if (phase == Phase.BATCH) {
            throw new IllegalArgumentException("a batch step has one sequence per row; use batch(...)");
        }
        this.phase = phase;
        this.rows = count;
        this.outputs = 1;
        this.segments = 0;
        this.hiddenOutputs = false;
        this.bidirectional = false;
        for (int t = 0; t < count; t++) {
            tokens[t] = source[offset + t];
            positions[t] = startPos + t;
            caches[t] = cache;
        }
        return this;
    }

    /**
     * Makes a prompt step produce the logits of every row (a speculative verification pass), not only the last one's:
     * row t's logits are output row t.
     */
    public Step allOutputs() {
        if (phase == Phase.BATCH) {
            throw new IllegalStateException("a batch step already produces every row's logits");
        }
        this.outputs = rows;
        return this;
    }

    /** One token of each of {@code count} sequences, from index {@code from} of the arrays; every row's logits. */
    public Step batch(KvCache[] rowCaches, int[] rowTokens, int[] rowPositions, int from, int count) {
        this.phase = Phase.BATCH;
        this.rows = count;
        this.outputs = count;
        this.segments = 0;
        this.hiddenOutputs = false;
        this.bidirectional = false;
        for (int t = 0; t < count; t++) {
            tokens[t] = rowTokens[from + t];
            positions[t] = rowPositions[from + t];
            caches[t] = rowCaches[from + t];
        }
        return this;
    }

    /**
     * Whole sequences packed as the rows of one prompt step (embedding models): sequence {@code s} is
     * {@code lengths[s]} tokens of {@code source}, following sequence {@code s-1}'s, at positions {@code 0..} of its
     * own (fresh) cache {@code seqCaches[s]}. Every row's final hidden state is produced, no logits: the output head
     * is not computed. {@code bidirectional}: each row attends to every row of its sequence (an embedding model
     * trained without the causal mask), not only to those before it.
     */
    public Step packed(KvCache[] seqCaches, int[] source, int[] lengths, int sequences, boolean bidirectional) {
        this.phase = Phase.PROMPT;
        int row = 0;
        for (int s = 0; s < sequences; s++) {
            segmentStart[s] = row;
            segmentLength[s] = lengths[s];
            for (int p = 0; p < lengths[s]; p++, row++) {
                tokens[row] = source[row];
                positions[row] = p;
                caches[row] = seqCaches[s];
            }
        }
        this.rows = row;
        this.outputs = row;
        this.segments = sequences;
        this.hiddenOutputs = true;
        this.bidirectional = bidirectional;
        return this;
    }

    /** Whether the packed sequences of this step attend bidirectionally (false for every other kind of step). */
    public boolean bidirectional() {
        return bidirectional;
    }

    /** Sequences of a {@link #packed} step, else 0. */
    public int segments() {
        return segments;
    }

    /** The first row of sequence {@code s} of a packed step. */
    public int segmentStart(int s) {
        return segmentStart[s];
    }

    /** The rows of sequence {@code s} of a packed step. */
    public int segmentLength(int s) {
        return segmentLength[s];
    }

    /** Whether the step produces hidden states (after the output norm) rather than logits. */
    public boolean hiddenOutputs() {
        return hiddenOutputs;
    }

    /** Replaces every row's cache (a pass that keeps one cache per device hands each device its own). */
    public void setCache(int row, KvCache cache) {
        caches[row] = cache;
    }

    /** Forgets the caches, so that a finished sequence's KV cache is not kept reachable. */
    public void clear() {
        for (int t = 0; t < rows; t++) {
            caches[t] = null;
        }
        rows = 0;
    }

    public Phase phase() {
        return phase;
    }

    public int rows() {
        return rows;
    }

    /**
     * Rows whose logits the step produces, the last ones of the step: the last row (prompt, decode) or all (batch, or
     * a prompt step after {@link #allOutputs()}).
     */
    public int outputs() {
        return outputs;
    }

    public int token(int row) {
        return tokens[row];
    }

    public int position(int row) {
        return positions[row];
    }

    public KvCache cache(int row) {
        return caches[row];
    }

    /** The position of the first row (a prompt chunk's start). */
    public int startPosition() {
        return positions[0];
    }
}

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

    /** @param maxRows the most rows a step may have: the larger of a prompt chunk and a decode batch */
    public Step(int maxRows) {
        this.tokens = new int[maxRows];
        this.positions = new int[maxRows];
        this.caches = new KvCache[maxRows];
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
        for (int t = 0; t < count; t++) {
            tokens[t] = rowTokens[from + t];
            positions[t] = rowPositions[from + t];
            caches[t] = rowCaches[from + t];
        }
        return this;
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

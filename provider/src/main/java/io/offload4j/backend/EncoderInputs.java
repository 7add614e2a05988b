package io.offload4j.backend;

import io.offload4j.model.EncoderConfig;

/**
 * The checks every {@link EncoderPass#encode} makes before it computes anything, so that each device refuses the same
 * inputs with the same message (and a bad id never reaches a device, where it would read out of bounds).
 */
public final class EncoderInputs {

    private EncoderInputs() {}

    /**
     * Checks that {@code sequences} packed inputs of {@code lengths} each fit the model and, together, a pass of
     * {@code maxRows} rows; returns their rows.
     */
    public static int checkPacking(EncoderConfig config, int maxRows, int[] lengths, int sequences) {
        if (sequences < 1 || sequences > lengths.length) {
            throw new IllegalArgumentException(sequences + " inputs with " + lengths.length + " lengths");
        }
        int rows = 0;
        for (int s = 0; s < sequences; s++) {
            int n = lengths[s];
            if (n < 1 || n > config.maxTokens()) {
                throw new IllegalArgumentException("input " + s + " has " + n + " tokens; this encoder takes 1.."
                        + config.maxTokens());
            }
            if (rows + n > maxRows) {
                throw new IllegalArgumentException("inputs of " + (rows + n) + "+ tokens together; this pass takes "
                        + maxRows + " per call");
            }
            rows += n;
        }
        return rows;
    }

    /** Checks one row's token id and token type against the model's vocabulary and token-type table. */
    public static void checkToken(EncoderConfig config, int id, int type) {
        if (id < 0 || id >= config.vocabularySize()) {
            throw new IllegalArgumentException("token " + id + " outside the vocabulary 0.."
                    + (config.vocabularySize() - 1));
        }
        if (type < 0 || type >= config.tokenTypes()) {
            throw new IllegalArgumentException("token type " + type + " outside 0.." + (config.tokenTypes() - 1));
        }
    }
}

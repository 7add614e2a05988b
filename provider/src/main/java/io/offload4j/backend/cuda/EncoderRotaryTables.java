package io.offload4j.backend.cuda;

import io.offload4j.model.EncoderConfig;

/**
 * The cos and sin tables of an encoder's rotary positions (nomic-bert), {@code [position × headDim/2 + i]} for
 * angle position × θ_i, θ_i = base^(-2i/headDim): computed once in double precision and rounded to fp32, the CPU
 * pass's formula, so that {@code enc_rope} rotates by exactly the CPU pass's factors. Host-only (no device needed).
 */
record EncoderRotaryTables(float[] cos, float[] sin, int positions, int half) {

    /**
     * The tables of the first {@code positions} positions: a row's position is its place within its own input, so
     * below both the pass's rows and the model's token limit.
     */
    static EncoderRotaryTables of(EncoderConfig config, int positions) {
        if (!config.rotary()) {
            throw new IllegalArgumentException(config.name() + " has learned positions, not rotary ones");
        }
        int hd = config.headDim();
        int half = hd / 2;
        float[] cos = new float[positions * half];
        float[] sin = new float[positions * half];
        for (int i = 0; i < half; i++) {
            double theta = Math.pow(config.rotaryBase(), -2.0 * i / hd);
            for (int p = 0; p < positions; p++) {
                double angle = p * theta;
                cos[p * half + i] = (float) Math.cos(angle);
                sin[p * half + i] = (float) Math.sin(angle);
            }
        }
        return new EncoderRotaryTables(cos, sin, positions, half);
    }

    /** Positions a pass of {@code maxRows} rows can give a row: its input's length is at most both limits. */
    static int positionsFor(EncoderConfig config, int maxRows) {
        return Math.min(maxRows, config.maxTokens());
    }
}

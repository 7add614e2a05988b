package io.offload4j.engine;

/**
 * How the next token is chosen from the logits.
 *
 * @param temperature       0 picks the most likely token (greedy); higher flattens the distribution
 * @param topK              keep the k most likely tokens (0 = off)
 * @param topP              keep the smallest set whose probability reaches p (1 = off)
 * @param minP              drop tokens less likely than minP × the most likely one (0 = off)
 * @param repeatPenalty     divide positive / multiply negative logits of recent tokens (1 = off)
 * @param repeatLastN       how many recent tokens the penalty looks at
 * @param seed              makes sampling reproducible; {@code null} picks a random seed
 * @param frequencyPenalty  subtracted from a token's logit once per occurrence in the last {@code repeatLastN}
 *                          tokens, in [-2, 2] (0 = off; OpenAI's meaning, over llama.cpp's window)
 * @param presencePenalty   subtracted once from the logit of every token that occurs in the last
 *                          {@code repeatLastN} tokens, in [-2, 2] (0 = off)
 */
public record SamplingParams(double temperature, int topK, double topP, double minP, double repeatPenalty,
                             int repeatLastN, Long seed, double frequencyPenalty, double presencePenalty) {

    public SamplingParams(double temperature, int topK, double topP, double minP, double repeatPenalty,
                          int repeatLastN, Long seed) {
        this(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, 0, 0);
    }

    /** Greedy decoding: deterministic, what tests and reference comparisons use. */
    public static final SamplingParams GREEDY = new SamplingParams(0, 0, 1, 0, 1, 64, null);

    /** llama.cpp's defaults. */
    public static final SamplingParams DEFAULTS = new SamplingParams(0.8, 40, 0.95, 0.05, 1.0, 64, null);

    public SamplingParams {
        if (!(temperature >= 0) || Double.isInfinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a finite number >= 0, was " + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("topK must be >= 0 (0 disables it), was " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("topP must be in (0, 1], was " + topP);
        }
        if (!(minP >= 0 && minP < 1)) {
            throw new IllegalArgumentException("minP must be in [0, 1), was " + minP);
        }
        if (!(repeatPenalty > 0) || Double.isInfinite(repeatPenalty)) {
            throw new IllegalArgumentException("repeatPenalty must be a positive number (1 disables it), was " + repeatPenalty);
        }
        if (repeatLastN < 0) {
            throw new IllegalArgumentException("repeatLastN must be >= 0, was " + repeatLastN);
        }
        if (!(frequencyPenalty >= -2 && frequencyPenalty <= 2)) {
            throw new IllegalArgumentException("frequencyPenalty must be in [-2, 2] (0 disables it), was "
                    + frequencyPenalty);
        }
        if (!(presencePenalty >= -2 && presencePenalty <= 2)) {
            throw new IllegalArgumentException("presencePenalty must be in [-2, 2] (0 disables it), was "
                    + presencePenalty);
        }
    }

    public SamplingParams withTemperature(double t) {
        return new SamplingParams(t, topK, topP, minP, repeatPenalty, repeatLastN, seed, frequencyPenalty, presencePenalty);
    }

    public SamplingParams withTopK(int k) {
        return new SamplingParams(temperature, k, topP, minP, repeatPenalty, repeatLastN, seed, frequencyPenalty, presencePenalty);
    }

    public SamplingParams withTopP(double p) {
        return new SamplingParams(temperature, topK, p, minP, repeatPenalty, repeatLastN, seed, frequencyPenalty, presencePenalty);
    }

    public SamplingParams withMinP(double p) {
        return new SamplingParams(temperature, topK, topP, p, repeatPenalty, repeatLastN, seed, frequencyPenalty, presencePenalty);
    }

    public SamplingParams withRepeatPenalty(double p) {
        return new SamplingParams(temperature, topK, topP, minP, p, repeatLastN, seed, frequencyPenalty, presencePenalty);
    }

    public SamplingParams withPenalties(double frequency, double presence) {
        return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, seed, frequency, presence);
    }

    public SamplingParams withSeed(Long s) {
        return new SamplingParams(temperature, topK, topP, minP, repeatPenalty, repeatLastN, s, frequencyPenalty, presencePenalty);
    }
}

package io.offload4j.engine;

import java.util.SplittableRandom;

/**
 * Picks tokens from logits following {@link SamplingParams}, in llama.cpp's order: repetition
 * penalty, top-k, top-p, min-p, then temperature and a draw. One sampler serves one sequence; its
 * buffers are sized to the vocabulary once, so {@link #sample} allocates nothing.
 */
public final class Sampler {

    private final SamplingParams params;
    private final SplittableRandom random;
    private final int[] candidates;
    private final float[] probabilities;
    private final boolean[] penalised;
    private final int[] occurrences;
    /** The distribution of the last {@link #distribution} call: candidates and weights in use, and their sum. */
    private int count;
    private double total;

    public Sampler(SamplingParams params, int vocabularySize) {
        this.params = params;
        this.random = new SplittableRandom(params.seed() != null ? params.seed() : System.nanoTime() ^ 0x9E3779B97F4A7C15L);
        this.candidates = new int[vocabularySize];
        this.probabilities = new float[vocabularySize];
        this.penalised = new boolean[vocabularySize];
        this.occurrences = params.frequencyPenalty() != 0 || params.presencePenalty() != 0
                ? new int[vocabularySize] : null;
    }

    public SamplingParams params() {
        return params;
    }

    /**
     * The distribution a token is drawn from, after the penalty, top-k, top-p, min-p and temperature: weights
     * {@code probabilities[0 .. count)} (summing to {@code total}) of tokens {@code candidates[0 .. count)}. Returns
     * the token at temperature 0 (then nothing is drawn), else -1.
     */
    private int distribution(float[] logits, int[] history, int historyLength) {
        int n = candidates.length;
        applyRepeatPenalty(logits, history, historyLength);
        applyFrequencyAndPresencePenalties(logits, history, historyLength);
        if (params.temperature() == 0) {
            return argmax(logits, n);
        }
        int count = n;
        for (int i = 0; i < n; i++) {
            candidates[i] = i;
        }
        int k = params.topK();
        if (k > 0 && k < n) {
            selectTop(logits, k);
            count = k;
        }
        if (params.topP() < 1 || params.minP() > 0 || count < n) {
            sortDescending(logits, count);
        }
        float max = maxOf(logits, count);
        // Probabilities at temperature 1 decide the nucleus and min-p cut (as llama.cpp does).
        double sum = 0;
        for (int i = 0; i < count; i++) {
            float p = (float) Math.exp(logits[candidates[i]] - max);
            probabilities[i] = p;
            sum += p;
        }
        if (params.topP() < 1) {
            double cumulative = 0;
            int keep = count;
            for (int i = 0; i < count; i++) {
                cumulative += probabilities[i] / sum;
                if (cumulative >= params.topP()) {
                    keep = i + 1;
                    break;
                }
            }
            count = keep;
        }
        if (params.minP() > 0) {
            float threshold = (float) (params.minP() * probabilities[0]);
            int keep = 1;
            while (keep < count && probabilities[keep] >= threshold) {
                keep++;
            }
            count = keep;
        }
        double inverseTemperature = 1.0 / params.temperature();
        double total = 0;
        for (int i = 0; i < count; i++) {
            double p = Math.exp((logits[candidates[i]] - max) * inverseTemperature);
            probabilities[i] = (float) p;
            total += p;
        }
        this.count = count;
        this.total = total;
        return -1;
    }

    /**
     * Chooses the next token. {@code logits} may be modified (penalty).
     *
     * @param history       the sequence so far (prompt and generated tokens)
     * @param historyLength how many entries of {@code history} are valid
     */
    public int sample(float[] logits, int[] history, int historyLength) {
        int greedy = distribution(logits, history, historyLength);
        if (greedy >= 0) {
            return greedy;
        }
        return draw(random.nextDouble() * total, -1);
    }

    /**
     * Speculative sampling for a drafted token: chooses the next token so that it is distributed exactly as
     * {@link #sample} would choose it, keeping {@code draft} whenever that rule allows. The draft was proposed
     * deterministically (its proposal q is a point mass), so the standard rule, accept with probability
     * min(1, p/q), accepts it with probability p(draft), and on rejection draws from the residual max(0, p - q)
     * normalised: p without the draft. Greedy (temperature 0): the argmax, so the draft only when it is the argmax.
     *
     * @return {@code draft} when accepted, else another token
     */
    public int verify(float[] logits, int[] history, int historyLength, int draft) {
        int greedy = distribution(logits, history, historyLength);
        if (greedy >= 0) {
            return greedy;
        }
        int at = -1;
        for (int i = 0; i < count; i++) {
            if (candidates[i] == draft) {
                at = i;
                break;
            }
        }
        double pDraft = at < 0 ? 0 : probabilities[at];
        if (at >= 0 && random.nextDouble() * total < pDraft) {
            return draft;
        }
        double residual = total - pDraft;
        if (residual <= 0) { // the draft holds all the probability: it cannot have been rejected
            return draft;
        }
        return draw(random.nextDouble() * residual, at);
    }

    /** The candidate at cumulative weight {@code r} of the distribution, skipping candidate {@code skip}. */
    private int draw(double r, int skip) {
        double acc = 0;
        int last = -1;
        for (int i = 0; i < count; i++) {
            if (i == skip) {
                continue;
            }
            acc += probabilities[i];
            if (probabilities[i] > 0) {
                last = i;
            }
            if (r < acc) {
                return candidates[i];
            }
        }
        // rounding left r just above the sum: never a token of probability 0 (masked)
        return last >= 0 ? candidates[last] : candidates[0];
    }

    private void applyRepeatPenalty(float[] logits, int[] history, int historyLength) {
        float penalty = (float) params.repeatPenalty();
        if (penalty == 1f || params.repeatLastN() == 0) {
            return;
        }
        int from = Math.max(0, historyLength - params.repeatLastN());
        for (int i = from; i < historyLength; i++) {
            int t = history[i];
            if (!penalised[t]) {
                penalised[t] = true;
                logits[t] = logits[t] > 0 ? logits[t] / penalty : logits[t] * penalty;
            }
        }
        for (int i = from; i < historyLength; i++) {
            penalised[history[i]] = false;
        }
    }

    /** OpenAI's penalties: {@code logit -= count * frequency + (count > 0 ? presence : 0)} over the window. */
    private void applyFrequencyAndPresencePenalties(float[] logits, int[] history, int historyLength) {
        if (occurrences == null || params.repeatLastN() == 0) {
            return;
        }
        int from = Math.max(0, historyLength - params.repeatLastN());
        for (int i = from; i < historyLength; i++) {
            occurrences[history[i]]++;
        }
        float frequency = (float) params.frequencyPenalty();
        float presence = (float) params.presencePenalty();
        for (int i = from; i < historyLength; i++) {
            int t = history[i];
            int count = occurrences[t];
            if (count > 0) {
                logits[t] -= count * frequency + presence;
                occurrences[t] = 0; // each token once
            }
        }
    }

    static int argmax(float[] logits, int n) {
        int best = 0;
        float bestValue = logits[0];
        for (int i = 1; i < n; i++) {
            if (logits[i] > bestValue) {
                bestValue = logits[i];
                best = i;
            }
        }
        return best;
    }

    private float maxOf(float[] logits, int count) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < count; i++) {
            max = Math.max(max, logits[candidates[i]]);
        }
        return max;
    }

    /** Moves the k largest logits' ids to candidates[0..k) (a min-heap of size k over all ids). */
    private void selectTop(float[] logits, int k) {
        int n = candidates.length;
        for (int i = k / 2 - 1; i >= 0; i--) {
            siftDownMin(logits, i, k);
        }
        for (int i = k; i < n; i++) {
            if (logits[candidates[i]] > logits[candidates[0]]) {
                candidates[0] = candidates[i];
                siftDownMin(logits, 0, k);
            }
        }
    }

    private void siftDownMin(float[] logits, int i, int size) {
        int[] c = candidates;
        while (true) {
            int l = 2 * i + 1;
            if (l >= size) {
                return;
            }
            int smallest = l + 1 < size && logits[c[l + 1]] < logits[c[l]] ? l + 1 : l;
            if (logits[c[smallest]] >= logits[c[i]]) {
                return;
            }
            int tmp = c[i];
            c[i] = c[smallest];
            c[smallest] = tmp;
            i = smallest;
        }
    }

    /** Heap sort of candidates[0..count) by logit, largest first (ties by lower id first). */
    private void sortDescending(float[] logits, int count) {
        for (int i = count / 2 - 1; i >= 0; i--) {
            siftDownMin(logits, i, count);
        }
        // Repeatedly move the minimum to the end: the array ends up in descending order.
        for (int end = count - 1; end > 0; end--) {
            int tmp = candidates[0];
            candidates[0] = candidates[end];
            candidates[end] = tmp;
            siftDownMin(logits, 0, end);
        }
    }
}

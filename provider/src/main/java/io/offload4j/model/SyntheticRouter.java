package io.offload4j.model;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * The router of a synthetic mixture of experts, with expert popularity calibrated to a Zipf law.
 *
 * <p>Why not random router weights: a random-weight transformer's hidden states grow alike across tokens with depth
 * (attention averages them), so random routers pick nearly the same experts for every token in deep blocks (a
 * fitted Zipf exponent of 2–3 with no skew asked for), and the skew would depend on depth and on the prompt.
 *
 * <p>So the writer reserves {@link #CHANNELS} channels of the residual stream for routing: channel 0 holds a constant
 * (every embedding row has {@link #CONSTANT} there) and channels 1.. hold each token's random embedding values, and
 * no other matrix reads or writes them (their columns are zero in Q, K, V, gate and up; their rows are zero in the
 * attention output and every down projection). A router reads only these channels: {@code bias_e} through channel 0
 * and random weights through the others. RMSNorm scales all of a token's channels by the same positive factor, which
 * changes no ranking, so which experts a token chooses is a function of the token alone, known when the file is
 * written. The biases are then fitted (a damped fixed-point iteration on a sample of the vocabulary) until each
 * expert's share of the choices equals its target: for the expert of rank r (a random order per block),
 * {@code min(1, c / r^s)} of the tokens, with c such that the shares add up to k.
 */
final class SyntheticRouter {

    /** Value of the constant channel (dimension 0). */
    static final float CONSTANT = 0.5f;
    /** Routing channels, the constant one included. */
    static final int CHANNELS = 33;

    private SyntheticRouter() {}

    /** Channels reserved for routing in a model of this width. */
    static int channels(int dim) {
        return Math.min(CHANNELS, dim / 4);
    }

    /**
     * Target share of the tokens choosing the expert of each popularity rank (index 0 = most popular): {@code
     * min(1, c / (r+1)^s)}, summing to {@code used}.
     */
    static double[] targetShares(int experts, int used, double s) {
        double lo = 0;
        double hi = used * 2.0;
        double[] f = new double[experts];
        while (sum(shares(experts, s, hi, f)) < used) {
            hi *= 2;
        }
        for (int i = 0; i < 100; i++) {
            double mid = (lo + hi) / 2;
            if (sum(shares(experts, s, mid, f)) < used) {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        return shares(experts, s, hi, f);
    }

    private static double[] shares(int experts, double s, double c, double[] f) {
        for (int r = 0; r < experts; r++) {
            f[r] = Math.min(1, c / Math.pow(r + 1, s));
        }
        return f;
    }

    private static double sum(double[] f) {
        double n = 0;
        for (double v : f) {
            n += v;
        }
        return n;
    }

    /**
     * The router of one block, [experts × dim] row-major, zero outside the routing channels.
     *
     * @param signatures each sampled token's routing channels 1.. as the model will see them (its embedding row,
     *                   decoded from the file's format), [tokens][channels - 1]
     */
    static float[] weights(int experts, int used, double s, int dim, float[][] signatures, long seed) {
        int ch = channels(dim);
        int tokens = signatures.length;
        SplittableRandom random = new SplittableRandom(seed);
        float[][] w = new float[experts][ch];
        for (float[] row : w) {
            for (int c = 1; c < ch; c++) {
                row[c] = (float) (random.nextDouble() * 2 - 1);
            }
        }
        // Each (token, expert) pair's noise: the random part of its logit, scaled to a standard deviation of 1.
        float[][] noise = new float[tokens][experts];
        double ss = 0;
        for (int t = 0; t < tokens; t++) {
            for (int e = 0; e < experts; e++) {
                double d = 0;
                for (int c = 1; c < ch; c++) {
                    d += w[e][c] * signatures[t][c - 1];
                }
                noise[t][e] = (float) d;
                ss += d * d;
            }
        }
        double scale = ss > 0 ? 1 / Math.sqrt(ss / ((double) tokens * experts)) : 1;
        for (int t = 0; t < tokens; t++) {
            for (int e = 0; e < experts; e++) {
                noise[t][e] *= (float) scale;
            }
        }
        int[] rank = permutation(experts, random);
        double[] shares = targetShares(experts, used, s);
        double[] target = new double[experts];
        double[] bias = new double[experts];
        for (int e = 0; e < experts; e++) {
            target[e] = shares[rank[e]];
            bias[e] = -s * Math.log(rank[e] + 1);
        }
        int[] chosen = new int[experts];
        double floor = 0.25 / tokens;
        for (int iteration = 0; iteration < 200; iteration++) {
            count(noise, bias, used, chosen);
            double step = 0.7 * 50 / (50.0 + iteration); // damped, and more so as it settles
            for (int e = 0; e < experts; e++) {
                double share = Math.max(floor, chosen[e] / (double) tokens);
                bias[e] += step * (Math.log(Math.max(floor, target[e])) - Math.log(share));
            }
        }
        float[] out = new float[experts * dim];
        for (int e = 0; e < experts; e++) {
            out[e * dim] = (float) (bias[e] / CONSTANT);
            for (int c = 1; c < ch; c++) {
                out[e * dim + c] = (float) (w[e][c] * scale);
            }
        }
        return out;
    }

    /** How many sampled tokens choose each expert with these biases. */
    private static void count(float[][] noise, double[] bias, int used, int[] chosen) {
        Arrays.fill(chosen, 0);
        int experts = bias.length;
        boolean[] taken = new boolean[experts];
        for (float[] n : noise) {
            Arrays.fill(taken, false);
            for (int j = 0; j < used; j++) {
                int best = -1;
                double bestV = Double.NEGATIVE_INFINITY;
                for (int e = 0; e < experts; e++) {
                    double v = bias[e] + n[e];
                    if (!taken[e] && v > bestV) {
                        best = e;
                        bestV = v;
                    }
                }
                taken[best] = true;
                chosen[best]++;
            }
        }
    }

    private static int[] permutation(int n, SplittableRandom random) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = random.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}

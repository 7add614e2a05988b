package io.offload4j.engine.speculative;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.IntToDoubleFunction;
import org.junit.jupiter.api.Test;

class AdaptiveDraftLengthTest {

    /** Pass costs in ms by rows, measured on the lent H100 (8B F16, 25 % budget): hybrid up to 5 rows, then streamed. */
    static double h100(int rows) {
        return rows == 1 ? 102.5 : rows <= 5 ? 152 : 229;
    }

    /** The same with the 16-row hybrid build: 9 rows 261 ms, 16 rows 275 ms (linear in between, guessed). */
    static double h100Hybrid16(int rows) {
        return rows == 1 ? 102.5 : rows <= 5 ? 152 : rows <= 9 ? 152 + (261 - 152) * (rows - 5) / 4.0
                : 261 + (275 - 261) * (rows - 9) / 8.0;
    }

    /** Streamed weights: one pass costs about the same whatever its rows. */
    static double flat(int rows) {
        return 100 + 0.5 * rows;
    }

    /** A device whose work grows with the rows (resident GPU or CPU compute-bound): each row adds 40 %. */
    static double linear(int rows) {
        return 60 + 40 * rows;
    }

    private static double[] table(IntToDoubleFunction cost, int maxRows) {
        double[] t = new double[maxRows + 1];
        for (int r = 1; r <= maxRows; r++) {
            t[r] = cost.applyAsDouble(r);
        }
        return t;
    }

    private static double expected(double a, int k) {
        return a >= 1 ? k + 1 : (1 - Math.pow(a, k + 1)) / (1 - a);
    }

    /** A table measured by two passes of every row count (the first of each is dropped). */
    private static PassCosts measured(IntToDoubleFunction cost, int maxRows) {
        PassCosts costs = new PassCosts(maxRows);
        for (int r = 1; r <= maxRows; r++) {
            costs.record(r, (long) (cost.applyAsDouble(r) * 1e6));
            costs.record(r, (long) (cost.applyAsDouble(r) * 1e6));
        }
        return costs;
    }

    @Test
    void theChosenLengthMaximisesTokensPerTimeAgainstBruteForce() {
        SplittableRandom r = new SplittableRandom(11);
        for (int trial = 0; trial < 20_000; trial++) {
            int max = 1 + r.nextInt(24);
            double[] cost = new double[max + 2];
            cost[1] = 1 + r.nextDouble(100);
            for (int rows = 2; rows <= max + 1; rows++) {
                // mostly increasing with the rows, sometimes not (noise in measured tables)
                cost[rows] = Math.max(0.1, cost[rows - 1] + r.nextDouble(-5, 40) * (r.nextInt(3) == 0 ? 0 : 1));
            }
            double a = switch (trial % 5) {
                case 0 -> 0;
                case 1 -> 1;
                default -> r.nextDouble();
            };
            int k = AdaptiveDraftLength.best(a, cost, max);
            double bestRate = 0;
            int bestK = -1;
            for (int j = 0; j <= max; j++) {
                double rate = expected(a, j) / cost[j + 1];
                if (rate > bestRate && (j == 0 || expected(a, j) >= 1 + AdaptiveDraftLength.MIN_EXPECTED_GAIN)) {
                    bestRate = rate;
                    bestK = j;
                }
            }
            double rate = expected(a, k) / cost[k + 1];
            assertTrue(rate >= bestRate * (1 - 1e-9), String.format(Locale.ROOT,
                    "a=%.4f max=%d: chose k=%d (%.6f tokens per unit), brute force k=%d (%.6f)", a, max, k, rate,
                    bestK, bestRate));
        }
    }

    @Test
    void flatCostsDraftLongSteepCostsOnlyWhenTheGainPays() {
        double[] flat = table(AdaptiveDraftLengthTest::flat, 17);
        int longK = AdaptiveDraftLength.best(0.7, flat, 16);
        assertTrue(longK >= 10 && longK <= 14, "streamed: drafts are nearly free, k = " + longK);
        assertEquals(16, AdaptiveDraftLength.best(1.0, flat, 16));
        assertEquals(0, AdaptiveDraftLength.best(0.0, flat, 16), "nothing accepted: no drafting even when free");
        assertEquals(0, AdaptiveDraftLength.best(0.08, flat, 16), "under a tenth of a token to gain: not worth a pass"
                + " that measured as cheap as a plain step (the measurement's noise is larger than that)");
        assertEquals(2, AdaptiveDraftLength.best(0.12, flat, 16), "E(2) = 1.13 tokens for 1 % more time");
        double[] noisy = table(rows -> rows == 2 ? 98.0 : 100.0 + rows, 17);
        assertEquals(0, AdaptiveDraftLength.best(0.05, noisy, 16), "a 2-row pass measured 2 % cheaper than a plain"
                + " step does not make a draft that yields 0.05 tokens worth it");

        double[] h100 = table(AdaptiveDraftLengthTest::h100, 17);
        assertEquals(4, AdaptiveDraftLength.best(0.7, h100, 16), "2.77 tokens per 152 ms beats 3.2 per 229 ms");
        assertEquals(4, AdaptiveDraftLength.best(0.5, h100, 16), "1.94 tokens per 152 ms beats 1 per 102.5 ms");
        assertEquals(4, AdaptiveDraftLength.best(0.35, h100, 16), "1.53 tokens per 152 ms: still (just) worth it");
        assertEquals(0, AdaptiveDraftLength.best(0.32, h100, 16), "1.47 tokens per 152 ms: not worth it");
        assertEquals(0, AdaptiveDraftLength.best(0.1, h100, 16));
        assertEquals(16, AdaptiveDraftLength.best(1.0, h100, 16), "17 tokens per 229 ms");
        assertEquals(16, AdaptiveDraftLength.best(0.97, h100, 16));

        double[] hybrid16 = table(AdaptiveDraftLengthTest::h100Hybrid16, 17);
        assertEquals(4, AdaptiveDraftLength.best(0.7, hybrid16, 16));

        double[] linear = table(AdaptiveDraftLengthTest::linear, 17);
        assertEquals(2, AdaptiveDraftLength.best(0.7, linear, 16), "2.19 per 180 against 1.7 per 140, 1 per 100");
        assertEquals(0, AdaptiveDraftLength.best(0.3, linear, 16));
    }

    @Test
    void passCostsDropTheFirstDurationAndEstimateTheRestOptimistically() {
        PassCosts c = new PassCosts(9);
        for (int r = 1; r <= 9; r++) {
            assertEquals(1, c.cost(r), "prior: every pass the same");
            assertFalse(c.measured(r));
        }
        c.record(1, 900_000_000L); // warm-up (a graph's capture): dropped
        assertFalse(c.measured(1));
        assertEquals(1, c.cost(1));
        c.record(1, 100);
        assertTrue(c.measured(1));
        for (int r = 1; r <= 9; r++) {
            assertEquals(100, c.cost(r), 1e-9, "flat beyond the last measured: untried passes get tried");
        }
        c.record(5, 1);
        c.record(5, 200);
        assertEquals(100, c.cost(3), 1e-9, "between measured neighbours the cheaper: untried passes get tried");
        assertEquals(100, c.cost(2), 1e-9);
        assertEquals(200, c.cost(9), 1e-9);
        assertEquals(5, c.largestMeasured());
        c.record(5, 400);
        assertEquals(200 + PassCosts.SMOOTHING * 200, c.cost(5), 1e-9, "exponentially weighted");
        c.record(0, 5); // outside the table: ignored
        c.record(10, 5);
        c.record(3, 0);
        assertFalse(c.measured(3));

        PassCosts late = new PassCosts(4);
        late.record(4, 1);
        late.record(4, 300);
        assertEquals(300, late.cost(1), 1e-9, "flat before the first measured");
    }

    @Test
    void aPassDearerThanItsRowsAsPlainStepsCountsAsThoseSteps() {
        PassCosts c = new PassCosts(9);
        c.record(1, 100);
        c.record(1, 100);
        c.record(2, 5_000); // dropped
        c.record(2, 2_000); // still compiling (a tiny model on the CPU: 27.5 ms against 1.4 ms plain)
        assertEquals(200, c.cost(2), 1e-9, "at most two plain steps");
        assertEquals(200, c.cost(9), 1e-9, "and the untried row counts estimated from it");
        AdaptiveDraftLength k = new AdaptiveDraftLength(8, c);
        for (int i = 0; i < 20; i++) {
            k.record(4, 4);
        }
        assertTrue(k.next() > 0, "a row count that looked 20 times dearer does not stop drafting: " + k.next());
        c.record(2, 150);
        assertEquals(200 + PassCosts.SMOOTHING * (150 - 200), c.cost(2), 1e-9, "durations below the bound count");
        PassCosts noPlain = new PassCosts(4);
        noPlain.record(3, 1);
        noPlain.record(3, 5_000);
        assertEquals(5_000, noPlain.cost(3), 1e-9, "no plain step measured (a table of shared steps): no bound");
    }

    @Test
    void noDraftingUntilAPlainStepIsMeasured() {
        PassCosts costs = new PassCosts(9);
        AdaptiveDraftLength k = new AdaptiveDraftLength(8, costs);
        assertEquals(0, k.next());
        costs.record(1, 100);
        assertEquals(0, k.next(), "the first duration is dropped");
        costs.record(1, 100);
        assertEquals(1, k.next(), "a prior of 1 in 2, every pass assumed to cost the same, at most twice the rows"
                + " measured: the most drafts that allows");
        costs.record(2, 100);
        costs.record(2, 100);
        assertEquals(3, k.next(), "then up to 4 rows");
        costs.record(4, 100);
        costs.record(4, 100);
        assertEquals(7, k.next());
        costs.record(8, 100);
        costs.record(8, 100);
        assertEquals(8, k.next(), "and the most it may draft");
        AdaptiveDraftLength h = new AdaptiveDraftLength(16, measured(AdaptiveDraftLengthTest::h100, 17));
        assertEquals(4, h.next(), "a prior of 1 in 2 on the H100's costs");
    }

    @Test
    void nothingAcceptedFallsBackToPlainDecodingWithRareProbes() {
        PassCosts costs = measured(AdaptiveDraftLengthTest::h100, 17);
        AdaptiveDraftLength k = new AdaptiveDraftLength(16, costs);
        int drafting = 0;
        while (k.next() > 0) {
            k.record(4, 0);
            drafting++;
        }
        assertEquals(1, drafting, "one rejected verification outweighs the prior");
        int probes = 0;
        int steps = 10_000;
        for (int i = 0; i < steps; i++) {
            int n = k.next();
            assertTrue(n <= 4, "a probe is a pass of at most 5 rows (152 ms), drafted " + n);
            if (n > 0) {
                probes++;
                k.record(n, 0);
            }
        }
        // a rejected probe costs 152 / 102.5 - 1 = 48 % of a decode step: one in 49 steps keeps it near 1 %
        double overhead = probes * (152 / 102.5 - 1) / steps;
        assertTrue(probes >= 150 && overhead <= AdaptiveDraftLength.PROBE_BUDGET * 1.1,
                probes + " probes cost " + overhead + " of the decode time");

        // accepted probes follow each other and bring drafting back within a few steps
        int step = 0;
        int n;
        while ((n = k.next()) == 0) {
            step++;
            assertTrue(step <= 60, "a probe within 60 steps");
        }
        int probesToDraft = 0;
        while (n > 0 && k.acceptance() < 0.34 && probesToDraft < 10) {
            k.record(n, n);
            probesToDraft++;
            n = k.next();
        }
        assertTrue(probesToDraft <= 3, "drafting resumed after " + probesToDraft + " accepted probes");
        assertTrue(k.next() >= 1);
    }

    @Test
    void theEstimateConvergesToTheAcceptanceRate() {
        SplittableRandom r = new SplittableRandom(7);
        for (double a : new double[] {0.2, 0.5, 0.8}) {
            AdaptiveDraftLength k = new AdaptiveDraftLength(8, measured(AdaptiveDraftLengthTest::flat, 9));
            double sum = 0;
            int n = 0;
            for (int step = 0; step < 20_000; step++) {
                int drafted = 4;
                int accepted = 0;
                while (accepted < drafted && r.nextDouble() < a) {
                    accepted++;
                }
                k.record(drafted, accepted);
                if (step >= 100) {
                    sum += k.acceptance();
                    n++;
                }
            }
            assertEquals(a, sum / n, 0.03, "mean estimate at a = " + a);
        }
        AdaptiveDraftLength k = new AdaptiveDraftLength(8, measured(AdaptiveDraftLengthTest::flat, 9));
        for (int i = 0; i < 30; i++) {
            k.record(8, 8);
        }
        assertTrue(k.acceptance() > 0.99, "all accepted: " + k.acceptance());
        for (int i = 0; i < 60; i++) {
            k.record(8, 0);
        }
        assertTrue(k.acceptance() < 0.05, "none accepted any more: " + k.acceptance());
    }

    /**
     * Tokens per unit of time of one sequence decoding {@code steps} passes, drafts accepted each with chance a (a
     * Bernoulli draw per token, stopping at the first rejection), every pass's time its row count's cost with ±5 %
     * noise, fed back to the table as the engine does. {@code fixed} < 0: the adaptive policy; else that k always.
     */
    private static double simulate(IntToDoubleFunction cost, double a, int max, int fixed, int steps, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        PassCosts costs = new PassCosts(max + 1);
        AdaptiveDraftLength policy = new AdaptiveDraftLength(max, costs);
        double time = 0;
        long tokens = 0;
        for (int step = 0; step < steps; step++) {
            int k = fixed >= 0 ? fixed : policy.next();
            double t = cost.applyAsDouble(k + 1) * (0.95 + 0.1 * r.nextDouble());
            time += t;
            costs.record(k + 1, (long) (t * 1e6));
            int accepted = 0;
            while (accepted < k && r.nextDouble() < a) {
                accepted++;
            }
            tokens += accepted + 1;
            if (k > 0) {
                policy.record(k, accepted);
            }
        }
        return tokens / time;
    }

    @Test
    void simulatedAdaptivePolicyIsNearTheBestFixedLength() {
        record Regime(String name, IntToDoubleFunction cost) {}
        Regime[] regimes = {new Regime("flat (streamed)", AdaptiveDraftLengthTest::flat),
                new Regime("H100 hybrid <= 5 rows", AdaptiveDraftLengthTest::h100),
                new Regime("H100 hybrid <= 16 rows", AdaptiveDraftLengthTest::h100Hybrid16),
                new Regime("linear (compute-bound)", AdaptiveDraftLengthTest::linear)};
        int max = 16;
        int steps = 4000;
        StringBuilder report = new StringBuilder();
        StringBuilder failures = new StringBuilder();
        for (Regime regime : regimes) {
            for (double a : new double[] {0, 0.3, 0.5, 0.7, 0.9, 1}) {
                double adaptive = simulate(regime.cost(), a, max, -1, steps, 1);
                double plain = simulate(regime.cost(), a, max, 0, steps, 1);
                double best = 0;
                int bestK = 0;
                for (int k = 0; k <= max; k++) {
                    double rate = simulate(regime.cost(), a, max, k, steps, 1);
                    if (rate > best) {
                        best = rate;
                        bestK = k;
                    }
                }
                String line = String.format(Locale.ROOT, "%s a=%.1f: adaptive %.4f, best fixed k=%d %.4f (%.3f×),"
                        + " no drafting %.4f (%.3f×)%n", regime.name(), a, adaptive, bestK, best, adaptive / best,
                        plain, adaptive / plain);
                report.append(line);
                if (adaptive < 0.95 * best) {
                    failures.append("not within 5 % of the best fixed k: ").append(line);
                }
                if (a == 0 && adaptive < 0.97 * plain) {
                    failures.append("nothing accepted costs more than 3 %: ").append(line);
                }
            }
        }
        System.out.print(report);
        assertTrue(failures.isEmpty(), failures + "\nall:\n" + report);
    }

    @Test
    void badArgumentsAreRefused() {
        PassCosts costs = new PassCosts(5);
        AdaptiveDraftLength k = new AdaptiveDraftLength(4, costs);
        assertThrows(IllegalArgumentException.class, () -> k.record(2, 3));
        assertThrows(IllegalArgumentException.class, () -> k.record(0, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveDraftLength(0, costs));
        assertThrows(IllegalArgumentException.class, () -> new AdaptiveDraftLength(5, costs));
        assertThrows(IllegalArgumentException.class, () -> new PassCosts(0));
    }
}

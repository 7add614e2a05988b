package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.MoeRoutingCounts;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.model.SyntheticMoe;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The synthetic writer's router skew, as the CPU pass sees it: the tokens of a long random prompt are routed, the
 * experts of each block ranked by how often they were chosen, and the exponent s of a Zipf law (count ∝ 1/rank^s)
 * fitted by least squares on log count against log rank. Uniform routing (s = 0) must look flat, a skewed router
 * must show about the exponent it was written with, in every block.
 */
class MoeRoutingSkewTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(doubles = {0.0, 0.6, 1.0, 1.4})
    void expertPopularityFollowsTheZipfExponent(double s) {
        SyntheticModelSpec spec = new SyntheticModelSpec("skew", Architecture.QWEN3MOE, 256, 6, 512, 8, 4, 0, 512, 512,
                QuantPreset.Q8_0, false, 7, new SyntheticMoe(32, 4, 256, 0, true, s));
        Path p = dir.resolve("skew-" + s + ".gguf");
        SyntheticModelWriter.write(spec, p);
        int tokens = 480;
        try (Model m = Model.load(p);
             ForwardPass pass = new CpuBackend(2).prepare(m, 512, 16);
             KvCache cache = pass.newKvCache(512)) {
            MoeRoutingCounts counts = new MoeRoutingCounts(spec.blockCount(), 32, 0);
            pass.routingListener(counts);
            int[] prompt = new SplittableRandom(11).ints(tokens, 3, 512).toArray();
            float[] logits = new float[m.config().vocabularySize()];
            for (int pos = 0; pos < tokens; pos += 16) {
                pass.forward(cache, prompt, pos, 16, pos, logits);
            }
            StringBuilder report = new StringBuilder();
            for (int b = 0; b < spec.blockCount(); b++) {
                long[] c = counts.counts(b);
                double fitted = zipfExponent(c);
                double distance = distance(c, spec.moe().targetShares(), tokens);
                report.append(String.format(" block %d: %.2f (%.3f)", b, fitted, distance));
                // Sampling alone (480 tokens, 32 experts) gives distances of about 0.05.
                assertTrue(distance < 0.1, "Zipf exponent " + s + ", block " + b + ": shares " + Arrays.toString(c)
                        + " are " + distance + " from the target;" + report);
            }
            System.out.println("Zipf exponent " + s + " written, fitted (distance from target):" + report);
            if (s > 0 && s < 1.2) {
                // Below the exponents where the head saturates (the top expert chosen by every token), the fitted
                // exponent of the counts is the one written.
                for (int b = 0; b < spec.blockCount(); b++) {
                    double fitted = zipfExponent(counts.counts(b));
                    assertTrue(Math.abs(fitted - s) < 0.25, "block " + b + " fitted " + fitted + ";" + report);
                }
            }
        }
    }

    /**
     * Half the summed difference between the measured shares (sorted, most chosen first) and the target shares, per
     * choice: 0 when equal, 1 when disjoint.
     */
    static double distance(long[] counts, double[] target, int tokens) {
        long[] c = counts.clone();
        Arrays.sort(c);
        double d = 0;
        double total = 0;
        for (int r = 0; r < c.length; r++) {
            d += Math.abs(c[c.length - 1 - r] / (double) tokens - target[r]);
            total += target[r];
        }
        return d / 2 / total;
    }

    /** Least-squares slope of −log(count) on log(rank) over the experts chosen at least once. */
    static double zipfExponent(long[] counts) {
        long[] c = counts.clone();
        Arrays.sort(c);
        int n = c.length;
        double sx = 0, sy = 0, sxx = 0, sxy = 0;
        int m = 0;
        for (int r = 1; r <= n; r++) {
            long v = c[n - r];
            if (v == 0) {
                break;
            }
            double x = Math.log(r);
            double y = Math.log(v);
            sx += x;
            sy += y;
            sxx += x * x;
            sxy += x * y;
            m++;
        }
        return -(m * sxy - sx * sy) / (m * sxx - sx * sx);
    }
}

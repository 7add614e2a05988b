package io.offload4j.offload;

import io.offload4j.backend.cpu.CpuExpertRunner;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.MoeWeights;
import java.util.Locale;

/**
 * Whether a decode token's missing experts are cheaper on the CPU (read from host memory on all cores) than copied
 * to the GPU: the CPU's expert bandwidth measured at load with the runner that will compute them (k experts of the
 * first sparse block per call, different ones each call so that caches do not flatter it, after a warm-up that
 * lets the JIT compile the kernels), against the pinned host → GPU bandwidth; a CPU miss also pays a hand-off of
 * the activation row down and back (a synchronisation, ~{@link #HAND_OFF_MICROS} µs).
 */
final class ExpertCpuProbe {

    static final double HAND_OFF_MICROS = 30;
    private static final long WARM_UP_NANOS = 600_000_000L;
    private static final long MEASURE_NANOS = 300_000_000L;

    private ExpertCpuProbe() {}

    /** The decision and its reasoning. */
    record Decision(boolean cpu, double cpuGBs, String reasoning) {}

    static Decision decide(Model model, CpuExpertRunner runner, double pcieGBs, PlacementPolicy policy) {
        var moe = model.config().moe();
        int k = moe.expertUsedCount();
        if (policy == PlacementPolicy.STREAM) {
            return new Decision(false, 0, "misses are copied to the GPU (placement stream)");
        }
        int block = 0;
        while (!model.weights().blocks().get(block).isSparse()) {
            block++;
        }
        BlockWeights b = model.weights().blocks().get(block);
        if (policy == PlacementPolicy.CPU) {
            return new Decision(true, 0, "a decode token's misses are computed on the CPU from host memory (and"
                    + " copied to the GPU in the background for admission): placement cpu");
        }
        double gbs = measure(runner, b.moe(), block, k, model.config().embeddingLength());
        long expert = b.moe().expertBytes(0);
        double cpuMicros = k * expert / (gbs * PlacementPlanner.CPU_IN_STEP_FACTOR * 1e3) + HAND_OFF_MICROS;
        double copyMicros = pcieGBs > 0 ? k * expert / (pcieGBs * 1e3) : Double.POSITIVE_INFINITY;
        boolean cpu = cpuMicros < copyMicros;
        return new Decision(cpu, gbs, String.format(Locale.ROOT, "a decode token's misses are %s: %d missing"
                        + " experts of a block on the CPU ≈ %.0f µs (%.1f GB/s measured × %.2f, + %.0f µs hand-off)"
                        + " vs copied ≈ %.0f µs (%.1f GB/s host→GPU)%s", cpu ? "computed on the CPU from host memory"
                        + " (and copied to the GPU in the background for admission)" : "copied to the GPU", k,
                cpuMicros, gbs, PlacementPlanner.CPU_IN_STEP_FACTOR, HAND_OFF_MICROS, copyMicros, pcieGBs, ""));
    }

    private static double measure(CpuExpertRunner runner, MoeWeights w, int block, int k, int dim) {
        int[] experts = new int[k];
        float[] weights = new float[k];
        float[] x = new float[dim];
        java.util.Arrays.fill(weights, 1f / k);
        int n = w.expertCount();
        long bytes = 0;
        long calls = 0;
        long start = System.nanoTime();
        long measuredFrom = -1;
        for (int round = 0; ; round++) {
            java.util.Arrays.fill(x, 0.01f);
            long b = 0;
            for (int j = 0; j < k; j++) {
                experts[j] = (round * k + j) % n;
                b += w.expertBytes(experts[j]);
            }
            runner.addExperts(block, x, experts, weights, k);
            long now = System.nanoTime();
            if (measuredFrom < 0 && now - start >= WARM_UP_NANOS) {
                measuredFrom = now;
            } else if (measuredFrom >= 0) {
                bytes += b;
                calls++;
                if (now - measuredFrom >= MEASURE_NANOS && calls >= 3) {
                    return bytes / (double) (now - measuredFrom);
                }
            }
        }
    }
}

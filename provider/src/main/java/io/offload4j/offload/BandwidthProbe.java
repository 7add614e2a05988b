package io.offload4j.offload;

import io.offload4j.backend.Accelerator;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBlockRunner;
import io.offload4j.model.Model;
import java.util.Arrays;

/**
 * The planner's inputs, measured at load and only when the model does not fit the budget (they matter only then):
 * the accelerator's host → device bandwidth from pinned memory, and the CPU's weight bandwidth at one token, measured
 * the way the CPU will be used — the first few blocks (at least ~1 GiB of weights, so that caches do not flatter it)
 * run one after another by a {@link CpuBlockRunner} on all cores, after 1 s of warm-up (the JIT compiles the
 * kernels), for {@link #CPU_PROBE_NANOS} while copies keep the DMA engine reading host memory, as streamed blocks do
 * at decode. (Two rounds, ~30 ms, varied by ±20% from run to run on the lent machine, and the planner's split with
 * them.)
 */
final class BandwidthProbe {

    static final long CPU_PROBE_NANOS = 400_000_000L;
    private static final long COPY_BYTES = 256L << 20;

    private BandwidthProbe() {}

    static Bandwidths measure(Accelerator accelerator, Model model, ModelUnits units, long budget,
                              boolean cpuPossible) {
        if (units.totalBytes() <= budget) {
            return new Bandwidths(1, 0);
        }
        if (!cpuPossible) {
            return new Bandwidths(accelerator.measureHostToDevice(COPY_BYTES, 0, null), 0);
        }
        try (CpuRounds cpu = new CpuRounds(model, units)) {
            cpu.warmUp();
            double h2d = accelerator.measureHostToDevice(COPY_BYTES, CPU_PROBE_NANOS, cpu::measure);
            return new Bandwidths(h2d, cpu.gbs);
        }
    }

    /** Rounds over the first blocks on the CPU; {@link #measure} leaves its rate in {@link #gbs}. */
    private static final class CpuRounds implements AutoCloseable {
        private final CpuBlockRunner runner;
        private final KvCache cache;
        private final float[] activation;
        private final int blocks;
        private final long bytes;
        double gbs;

        CpuRounds(Model model, ModelUnits units) {
            int n = model.config().blockCount();
            boolean[] measured = new boolean[n];
            long b = 0;
            int k = 0;
            while (k < n && (k < 2 || b < (1L << 30)) && k < 8) {
                measured[k] = true;
                b += units.bytes()[k];
                k++;
            }
            this.blocks = k;
            this.bytes = b;
            this.runner = new CpuBlockRunner(model, 2, measured, 0);
            this.cache = runner.newKvCache(2);
            this.activation = new float[model.config().embeddingLength()];
        }

        void warmUp() {
            long start = System.nanoTime();
            while (System.nanoTime() - start < 1_000_000_000L) {
                round();
            }
        }

        void measure() {
            long t0 = System.nanoTime();
            int rounds = 0;
            do {
                round();
                rounds++;
            } while (System.nanoTime() - t0 < CPU_PROBE_NANOS);
            gbs = (double) rounds * bytes / (System.nanoTime() - t0);
        }

        private void round() {
            Arrays.fill(activation, 0.01f);
            for (int l = 0; l < blocks; l++) {
                runner.runBlock(l, cache, activation, 1, 0);
            }
        }

        @Override
        public void close() {
            cache.close();
            runner.close();
        }
    }
}

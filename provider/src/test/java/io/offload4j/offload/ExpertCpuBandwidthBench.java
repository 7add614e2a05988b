package io.offload4j.offload;

import io.offload4j.backend.cpu.CpuExpertRunner;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.MoeWeights;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;

/**
 * How the CPU expert runner's bandwidth develops over time: k experts of one Qwen3-30B-A3B-shaped block per call (the
 * calls {@link ExpertCpuProbe} times), GB/s per 300 ms window for {@code --seconds}, threads parked or spinning
 * between calls. A program, not a test: {@code ExpertCpuBandwidthBench [--threads N] [--seconds 10] [--dir /tmp]}.
 */
public final class ExpertCpuBandwidthBench {

    private ExpertCpuBandwidthBench() {}

    public static void main(String[] args) throws Exception {
        int threads = Integer.parseInt(arg(args, "--threads", Integer.toString(Runtime.getRuntime().availableProcessors())));
        double seconds = Double.parseDouble(arg(args, "--seconds", "10"));
        Path file = Path.of(arg(args, "--dir", "/tmp")).resolve("qwen3-30b-a3b-2-blocks-Q4_K_M.gguf");
        if (!Files.exists(file)) {
            SyntheticModelSpec s = SyntheticModelSpec.qwen3_30b_a3b(QuantPreset.parse("Q4_K_M"), 1.0);
            SyntheticModelWriter.write(new SyntheticModelSpec("synthetic-qwen3-moe-2-blocks", s.architecture(),
                    s.embeddingLength(), 2, s.feedForwardLength(), s.headCount(), s.headCountKv(), s.headDim(),
                    s.vocabularySize(), s.contextLength(), s.quantization(), false, s.seed(), s.moe()), file);
        }
        try (Model model = Model.load(file)) {
            int n = model.config().blockCount();
            MoeWeights[] moe = new MoeWeights[n];
            float[][] norms = new float[n][];
            for (int l = 0; l < n; l++) {
                BlockWeights b = model.weights().blocks().get(l);
                moe[l] = b.moe();
                norms[l] = b.ffnNorm();
            }
            int k = model.config().moe().expertUsedCount();
            int dim = model.config().embeddingLength();
            for (boolean spin : new boolean[] {false, true}) {
                try (CpuExpertRunner runner = new CpuExpertRunner(moe, norms, dim, k, model.config().rmsNormEps(),
                        threads)) {
                    runner.keepThreadsSpinning(spin);
                    System.out.printf(Locale.ROOT, "%d threads, %s between calls: GB/s per 300 ms window:%n", threads,
                            spin ? "spinning" : "parked");
                    run(runner, moe[0], 0, k, dim, seconds);
                    runner.keepThreadsSpinning(false);
                }
            }
        }
    }

    private static void run(CpuExpertRunner runner, MoeWeights w, int block, int k, int dim, double seconds) {
        int[] experts = new int[k];
        float[] weights = new float[k];
        float[] x = new float[dim];
        Arrays.fill(weights, 1f / k);
        long start = System.nanoTime();
        long windowStart = start;
        long bytes = 0;
        StringBuilder line = new StringBuilder();
        for (int round = 0; System.nanoTime() - start < seconds * 1e9; round++) {
            Arrays.fill(x, 0.01f);
            for (int j = 0; j < k; j++) {
                experts[j] = (round * k + j) % w.expertCount();
                bytes += w.expertBytes(experts[j]);
            }
            runner.addExperts(block, x, experts, weights, k);
            long now = System.nanoTime();
            if (now - windowStart >= 300_000_000L) {
                line.append(String.format(Locale.ROOT, " %.1f", bytes / (double) (now - windowStart)));
                bytes = 0;
                windowStart = now;
            }
        }
        System.out.println(line);
    }

    private static String arg(String[] args, String name, String dflt) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return dflt;
    }
}

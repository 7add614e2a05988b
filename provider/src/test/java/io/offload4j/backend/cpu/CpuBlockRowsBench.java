package io.offload4j.backend.cpu;

import io.offload4j.backend.KvCache;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * What a block computed on the CPU costs for 1..16 rows of one sequence: the hybrid GPU pass's CPU blocks verifying a
 * speculative draft (the last token and k drafts in one call). Ideally a few rows cost about what one does (the weights
 * are read once for all of them); this prints ms per block, the weight bytes read per second and the ratio to one row.
 *
 * <pre>
 * CpuBlockRowsBench [--dir /tmp/offload4j-bench] [--quant F16] [--threads 0] [--rows 1,2,3,5,9,16] (at most CpuBlockRunner.MAX_ROWS) [--reps 20]
 * </pre>
 * The model: Llama 3 8B's block shape (4096 wide, FFN 14336, 32 heads, 8 KV heads), two blocks.
 */
public final class CpuBlockRowsBench {

    private CpuBlockRowsBench() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(arg(args, "--dir", "/tmp/offload4j-bench"));
        QuantPreset q = QuantPreset.parse(arg(args, "--quant", "F16"));
        int threads = Integer.parseInt(arg(args, "--threads", "0"));
        int[] rowsList = Arrays.stream(arg(args, "--rows", "1,2,3,5,9,16").split(",")).mapToInt(Integer::parseInt).toArray();
        int reps = Integer.parseInt(arg(args, "--reps", "20"));
        for (int rows : rowsList) {
            if (rows < 1 || rows > CpuBlockRunner.MAX_ROWS) {
                throw new IllegalArgumentException("--rows " + rows + ": a CPU block runs 1.." + CpuBlockRunner.MAX_ROWS
                        + " rows at once");
            }
        }
        SyntheticModelSpec s8 = SyntheticModelSpec.llama3_8b(q);
        SyntheticModelSpec spec = new SyntheticModelSpec("cpu-rows-8b-block", s8.architecture(), s8.embeddingLength(), 2,
                s8.feedForwardLength(), s8.headCount(), s8.headCountKv(), s8.headDim(), 32000, 4096, q, false, 8);
        Files.createDirectories(dir);
        Path file = dir.resolve("cpu-rows-8b-block-" + q + ".gguf");
        if (!Files.exists(file)) {
            SyntheticModelWriter.write(spec, file);
        }
        try (Model model = Model.load(file);
             CpuBlockRunner runner = new CpuBlockRunner(model, 1024, new boolean[] {true, true}, threads)) {
            BlockWeights b = model.weights().blocks().get(0);
            long bytes = b.matrixBytes();
            int dim = spec.embeddingLength();
            KvCache cache = runner.newKvCache(1024);
            float[] act = new float[CpuBlockRunner.MAX_ROWS * dim];
            SplittableRandom random = new SplittableRandom(1);
            System.out.printf(Locale.ROOT, "# CPU block cost by rows: %s, block %.1f MiB, %d threads%n%n", file.getFileName(),
                    bytes / 1048576.0, threads == 0 ? Runtime.getRuntime().availableProcessors() : threads);
            System.out.println("| rows | ms per block | weight GB/s | × one row |");
            System.out.println("|---|---|---|---|");
            double one = 0;
            for (int rows : rowsList) {
                double best = Double.MAX_VALUE;
                for (int r = 0; r < reps + 3; r++) {
                    for (int i = 0; i < rows * dim; i++) {
                        act[i] = (float) random.nextGaussian();
                    }
                    long t0 = System.nanoTime();
                    runner.runBlock(0, cache, act, rows, 100);
                    runner.runBlock(1, cache, act, rows, 100);
                    long t = System.nanoTime() - t0;
                    if (r >= 3) {
                        best = Math.min(best, t / 2e6);
                    }
                }
                if (one == 0) {
                    one = best;
                }
                System.out.printf(Locale.ROOT, "| %d | %.2f | %.1f | %.2f× |%n", rows, best, bytes / best / 1e6, best / one);
            }
        }
    }

    private static String arg(String[] args, String name, String fallback) {
        for (int i = 0; i < args.length - 1; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return fallback;
    }
}

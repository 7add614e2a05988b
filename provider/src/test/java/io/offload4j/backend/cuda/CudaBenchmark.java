package io.offload4j.backend.cuda;

import io.offload4j.offload.TieredForwardPass;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Decode and prefill speed of the CUDA backend on synthetic models written to the GPU machine's own
 * disk (too large to carry there).
 *
 * <pre>
 * CudaBenchmark [--dir DIR] [--shapes llama32-3b,llama3-8b] [--quants F16,Q8_0,Q4_K_M]
 *               [--decode 128] [--prefill 512] [--out report.md]
 * </pre>
 *
 * For each model: prefill tokens/s of one {@code --prefill}-token chunk (median of 3 after a warm-up);
 * decode tokens/s over {@code --decode} single-token steps (after 8 warm-up steps, the first of which
 * captures the CUDA graph), at a short context (after a 16-token prompt) and at a long one (after the
 * prefill chunk); effective weight bandwidth = bytes of weights one decode step reads (every block
 * matrix and the output matrix) × tokens/s, also as a fraction of the H100 SXM's 3.35 TB/s.
 */
public final class CudaBenchmark {

    static final double HBM_GBPS = 3350;

    private CudaBenchmark() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(arg(args, "--dir", "/tmp/offload4j-bench"));
        List<String> shapes = List.of(arg(args, "--shapes", "llama32-3b").split(","));
        List<String> quants = List.of(arg(args, "--quants", "F16,Q8_0,Q4_K_M").split(","));
        int decode = Integer.parseInt(arg(args, "--decode", "128"));
        int prefill = Integer.parseInt(arg(args, "--prefill", "512"));
        String outFile = arg(args, "--out", null);
        int profileSteps = Integer.parseInt(arg(args, "--profile", "0"));
        Files.createDirectories(dir);
        StringBuilder report = new StringBuilder();
        try (CudaBackend gpu = new CudaBackend(0)) {
            line(report, outFile, "# CUDA backend benchmark\n\n" + gpu.description() + "\n");
            line(report, outFile, "| model | quant | weights GiB | prefill " + prefill + " tok/s | decode tok/s (ctx 16)"
                    + " | decode tok/s (ctx " + prefill + ") | eff. GB/s | of 3.35 TB/s | upload s | write s |");
            line(report, outFile, "|---|---|---|---|---|---|---|---|---|---|");
            for (String shape : shapes) {
                for (String quant : quants) {
                    QuantPreset q = QuantPreset.parse(quant);
                    SyntheticModelSpec spec = switch (shape) {
                        case "tiny" -> SyntheticModelSpec.tiny(io.offload4j.model.Architecture.LLAMA, q);
                        case "small" -> SyntheticModelSpec.small(q);
                        case "llama32-3b" -> SyntheticModelSpec.llama32_3b(q);
                        case "llama3-8b" -> SyntheticModelSpec.llama3_8b(q);
                        default -> throw new IllegalArgumentException("unknown shape " + shape);
                    };
                    Path file = dir.resolve(shape + "-" + q + ".gguf");
                    double writeSeconds = 0;
                    if (!Files.exists(file)) {
                        long t0 = System.nanoTime();
                        SyntheticModelWriter.write(spec, file);
                        writeSeconds = (System.nanoTime() - t0) / 1e9;
                    }
                    if (profileSteps > 0) {
                        profile(gpu, file, profileSteps);
                    } else {
                        run(gpu, file, shape, q, prefill, decode, writeSeconds, report, outFile);
                    }
                }
            }
        }
    }

    private static void run(CudaBackend gpu, Path file, String shape, QuantPreset q, int prefill, int decode,
                            double writeSeconds, StringBuilder report, String outFile) throws IOException {
        try (Model model = Model.load(file)) {
            int context = prefill + decode + 16;
            long t0 = System.nanoTime();
            try (TieredForwardPass pass = Passes.on(gpu, model, context, prefill)) {
                double upload = (System.nanoTime() - t0) / 1e9;
                TieredForwardPass cp = pass;
                int vocab = model.config().vocabularySize();
                SplittableRandom rnd = new SplittableRandom(1);
                int[] tokens = new int[context];
                for (int i = 0; i < tokens.length; i++) {
                    tokens[i] = 3 + rnd.nextInt(vocab - 3);
                }
                float[] logits = new float[vocab];
                double prefillTps;
                double decodeShort;
                double decodeLong;
                try (KvCache cache = pass.newKvCache(context)) {
                    // prefill: the same chunk at positions 0.. three times (the cache is simply overwritten)
                    pass.forward(cache, tokens, 0, prefill, 0, logits);
                    double[] times = new double[3];
                    for (int i = 0; i < times.length; i++) {
                        long s = System.nanoTime();
                        pass.forward(cache, tokens, 0, prefill, 0, logits);
                        times[i] = (System.nanoTime() - s) / 1e9;
                    }
                    Arrays.sort(times);
                    prefillTps = prefill / times[1];
                    decodeLong = decodeLoop(pass, cache, tokens, prefill, decode, logits);
                }
                try (KvCache cache = pass.newKvCache(context)) {
                    pass.forward(cache, tokens, 0, 16, 0, logits);
                    decodeShort = decodeLoop(pass, cache, tokens, 16, decode, logits);
                }
                long bytes = OffloadBenchmark.weightBytes(model.weights());
                double gbps = bytes * decodeShort / 1e9;
                line(report, outFile, String.format("| %s | %s | %.2f | %.0f | %.1f | %.1f | %.0f | %.2f | %.1f | %.1f |",
                        shape, q, cp.weightBytes() / (double) (1L << 30), prefillTps, decodeShort, decodeLong, gbps,
                        gbps / HBM_GBPS, upload, writeSeconds));
            }
        }
    }

    /**
     * Only decode steps from position 0, for a profiler (ncu): every forward call is the replay of one
     * CUDA graph, so kernel launch i of step s is launch s * (launches per step) + i.
     */
    private static void profile(CudaBackend gpu, Path file, int steps) {
        try (Model model = Model.load(file); TieredForwardPass pass = Passes.on(gpu, model, 64, 1);
             KvCache cache = pass.newKvCache(64)) {
            float[] logits = new float[model.config().vocabularySize()];
            int[] tokens = new int[64];
            java.util.Arrays.fill(tokens, 300);
            for (int p = 0; p < steps; p++) {
                pass.forward(cache, tokens, p, 1, p, logits);
            }
            System.out.println("profiled " + steps + " decode steps of " + file.getFileName());
        }
    }

    /** Tokens/s of {@code steps} one-token forward calls from position {@code start}, after 8 warm-up steps. */
    private static double decodeLoop(ForwardPass pass, KvCache cache, int[] tokens, int start, int steps,
                                     float[] logits) {
        int warm = 8;
        int pos = start;
        for (int i = 0; i < warm; i++, pos++) {
            pass.forward(cache, tokens, pos, 1, pos, logits);
        }
        long s = System.nanoTime();
        for (int i = 0; i < steps - warm; i++, pos++) {
            pass.forward(cache, tokens, pos, 1, pos, logits);
        }
        return (steps - warm) / ((System.nanoTime() - s) / 1e9);
    }

    private static void line(StringBuilder report, String outFile, String s) throws IOException {
        System.out.println(s);
        report.append(s).append('\n');
        if (outFile != null) {
            Files.writeString(Path.of(outFile), s + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
                    StandardOpenOption.APPEND);
        }
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

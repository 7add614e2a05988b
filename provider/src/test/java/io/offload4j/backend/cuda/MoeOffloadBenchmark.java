package io.offload4j.backend.cuda;

import io.offload4j.backend.KvCache;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.ExpertCacheStats;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.OffloadStats;
import io.offload4j.offload.Placement;
import io.offload4j.offload.TieredForwardPass;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * A mixture of experts larger than the GPU: sparse blocks placed whole (today's default, {@code blocks}) against
 * experts placed one by one in a GPU expert cache ({@code experts}, {@code OffloadOptions.expertCache}), at several
 * budgets, on one synthetic Zipf-routed model, in one run; with the llama.cpp peer's command for the same file and
 * budget ({@code --n-cpu-moe N}: the experts of the first N blocks on the CPU, everything else on the GPU).
 *
 * <pre>
 * MoeOffloadBenchmark [--dir /tmp/offload4j-bench] [--shape qwen3-30b-a3b] [--quant Q4_K_M] [--zipf 1.0]
 *                     [--model PATH] [--budgets 1,0.5,0.25,0.1] [--modes blocks,experts,experts+prefetch]
 *                     [--prefill 512]
 *                     [--decode-tokens 64] [--out moe.md]
 * </pre>
 *
 * Per budget and mode: units resident / streamed, expert slots (cached), prefill tokens/s of one chunk (median of 3
 * after a warm-up), decode tokens/s at batch 1 (after a 16-token prompt), the expert cache's hit rate over the decode
 * steps and over the prefills, experts copied per decode token. Budget fractions are of the whole model's weights
 * (1 = automatic: everything resident when it fits).
 */
public final class MoeOffloadBenchmark {

    private MoeOffloadBenchmark() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(arg(args, "--dir", "/tmp/offload4j-bench"));
        String shape = arg(args, "--shape", "qwen3-30b-a3b");
        QuantPreset q = QuantPreset.parse(arg(args, "--quant", "Q4_K_M"));
        double zipf = Double.parseDouble(arg(args, "--zipf", "1.0"));
        double[] budgets = Arrays.stream(arg(args, "--budgets", "1,0.5,0.25,0.1").split(","))
                .mapToDouble(Double::parseDouble).toArray();
        String[] modes = arg(args, "--modes", "blocks,experts,experts+prefetch").split(",");
        int prefill = Integer.parseInt(arg(args, "--prefill", "512"));
        int decodeTokens = Integer.parseInt(arg(args, "--decode-tokens", "64"));
        String out = arg(args, "--out", null);
        Path file;
        if (arg(args, "--model", null) != null) {
            file = Path.of(arg(args, "--model", null));
        } else {
            Files.createDirectories(dir);
            file = dir.resolve(shape + "-" + q + "-zipf" + zipf + ".gguf");
            if (!Files.exists(file)) {
                OffloadBenchmarkShapes.write(shape, q, zipf, file);
            }
        }
        try (CudaBackend gpu = new CudaBackend(0); Model model = Model.load(file)) {
            long total = OffloadBenchmark.weightBytes(model.weights());
            double pinned = OffloadBenchmark.pinnedBandwidth();
            line(out, String.format(Locale.ROOT, "# MoE offloading: %s (%.2f GiB of weights), Zipf %.2f%n%n%s;"
                    + " pinned host→device now: %.1f GB/s%n", file.getFileName(), total / (double) (1L << 30), zipf,
                    gpu.description(), pinned));
            line(out, "| budget | mode | units resident / streamed | expert slots (cached) | prefill " + prefill
                    + " tok/s | decode b1 tok/s | hit rate decode | hit rate prefill | experts copied per token |"
                    + " CPU experts per token | prediction hit rate | decode trace replayed cold: Belady / W-TinyLFU |");
            line(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
            for (double f : budgets) {
                long budget = f >= 1 ? OffloadOptions.AUTO : (long) (f * total);
                for (String mode : modes) {
                    if (budget == OffloadOptions.AUTO && !mode.equals(modes[0])) {
                        continue; // resident either way
                    }
                    run(gpu, model, budget, total, mode, prefill, decodeTokens, out);
                }
            }
            line(out, "");
            line(out, "llama.cpp peer on the same file (experts of the first N blocks on the CPU, the rest on the GPU):");
            for (double f : budgets) {
                line(out, String.format(Locale.ROOT, "  budget %s: llama-bench -m %s -ngl 99 --n-cpu-moe %d -p %d -n %d"
                                + " -r 3", f >= 1 ? "all" : String.format(Locale.ROOT, "%.0f%%", 100 * f), file,
                        cpuMoeBlocks(model, f >= 1 ? Long.MAX_VALUE : (long) (f * total)), prefill, decodeTokens));
            }
        }
    }

    /** llama.cpp's {@code --n-cpu-moe}: the fewest leading blocks whose experts must leave the GPU for the budget. */
    static int cpuMoeBlocks(Model model, long budget) {
        long dense = model.weights().output().byteSize();
        long experts = 0;
        for (BlockWeights b : model.weights().blocks()) {
            long e = b.isSparse() ? b.matrixBytes() - b.moe().denseBytes()
                    - (b.wq().byteSize() + b.wk().byteSize() + b.wv().byteSize() + b.wo().byteSize()) : 0;
            experts += e;
            dense += b.matrixBytes() - e;
        }
        int n = 0;
        long onGpu = dense + experts;
        for (BlockWeights b : model.weights().blocks()) {
            if (onGpu <= budget) {
                break;
            }
            if (b.isSparse()) {
                onGpu -= b.moe().matrixBytes() - b.moe().denseBytes();
            }
            n++;
        }
        return n;
    }

    private static void run(CudaBackend gpu, Model model, long budget, long total, String mode, int prefill,
                            int decodeTokens, String out) throws IOException {
        int context = prefill + decodeTokens + 32;
        OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(budget)
                .withExpertCache(mode.startsWith("experts")).withExpertPrefetch(mode.equals("experts+prefetch"));
        long t0 = System.nanoTime();
        try (TieredForwardPass pass = Passes.on(gpu, model, context, prefill, options)) {
            System.out.println(pass.memoryReport());
            System.out.printf(Locale.ROOT, "prepared in %.1f s: %s%n", (System.nanoTime() - t0) / 1e9,
                    pass.expertStats() != null ? pass.expertStats().reasoning() : pass.plan().reasoning());
            int vocab = model.config().vocabularySize();
            SplittableRandom rnd = new SplittableRandom(1);
            int[] tokens = rnd.ints(context, 3, vocab).toArray();
            float[] logits = new float[vocab];
            double prefillTps;
            ExpertCacheStats p0;
            ExpertCacheStats p1;
            try (KvCache cache = pass.newKvCache(context)) {
                pass.forward(cache, tokens, 0, prefill, 0, logits);
                double[] times = new double[3];
                p0 = pass.expertStats();
                for (int i = 0; i < times.length; i++) {
                    long s = System.nanoTime();
                    pass.forward(cache, tokens, 0, prefill, 0, logits);
                    times[i] = (System.nanoTime() - s) / 1e9;
                }
                p1 = pass.expertStats();
                Arrays.sort(times);
                prefillTps = prefill / times[1];
            }
            double decodeTps;
            io.offload4j.backend.MoeRoutingCounts trace = null;
            ExpertCacheStats d0;
            ExpertCacheStats d1;
            try (KvCache cache = pass.newKvCache(context)) {
                pass.forward(cache, tokens, 0, 16, 0, logits);
                for (int p = 16; p < 20; p++) { // warm-up
                    pass.forward(cache, tokens, p, 1, p, logits);
                }
                d0 = pass.expertStats();
                if (d0 != null) {
                    trace = new io.offload4j.backend.MoeRoutingCounts(model.config().blockCount(),
                            model.config().moe().expertCount(), decodeTokens * model.config().blockCount()
                            * model.config().moe().expertUsedCount());
                    pass.routingListener(trace);
                }
                long s = System.nanoTime();
                for (int p = 20; p < 20 + decodeTokens; p++) {
                    pass.forward(cache, tokens, p, 1, p, logits);
                }
                decodeTps = decodeTokens / ((System.nanoTime() - s) / 1e9);
                d1 = pass.expertStats();
                if (d0 != null) {
                    pass.routingListener(io.offload4j.backend.MoeRoutingListener.NONE);
                }
            }
            String belady = "–";
            if (trace != null) {
                // the same decode trace replayed from a cold cache of the same capacity: Belady's offline optimum
                int e = model.config().moe().expertCount();
                long[] bytes = new long[model.config().blockCount() * e];
                java.util.Arrays.fill(bytes, 1L << 20);
                var replay = new io.offload4j.offload.ExpertCacheReplay(trace.trace(), e, bytes);
                long capacity = (long) d1.cacheSlots() << 20;
                belady = String.format(Locale.ROOT, "%.3f / %.3f", replay.belady(capacity).hitRate(),
                        replay.caffeine(capacity).hitRate());
            }
            OffloadStats st = pass.offloadStats();
            String slots = d1 == null ? "–" : d1.slots() + " (" + d1.cacheSlots() + ")";
            line(out, String.format(Locale.ROOT, "| %s | %s | %d / %d | %s | %.0f | %.2f | %s | %s | %s | %s | %s | %s |",
                    budget == OffloadOptions.AUTO ? "all (auto)" : String.format(Locale.ROOT, "%.2f GiB (%.0f%%)",
                            budget / (double) (1L << 30), 100.0 * budget / total), mode,
                    pass.plan().count(Placement.RESIDENT), pass.plan().count(Placement.STREAMED) + st.cpuBlocks(),
                    slots, prefillTps, decodeTps, rate(d0, d1), rate(p0, p1),
                    d1 == null ? "–" : String.format(Locale.ROOT, "%.1f", (d1.copies() + d1.prefetches()
                            - d0.copies() - d0.prefetches()) / (double) decodeTokens),
                    d1 == null ? "–" : String.format(Locale.ROOT, "%.1f", (d1.cpuComputed() - d0.cpuComputed())
                            / (double) decodeTokens),
                    d1 == null || d1.predicted() == d0.predicted() ? "–" : String.format(Locale.ROOT, "%.3f",
                            (d1.predictedRight() - d0.predictedRight()) / (double) (d1.predicted() - d0.predicted())),
                    belady));
        }
    }

    private static String rate(ExpertCacheStats a, ExpertCacheStats b) {
        if (a == null || b == null) {
            return "–";
        }
        long h = b.totalHits() - a.totalHits();
        long m = b.totalMisses() - a.totalMisses();
        return h + m == 0 ? "–" : String.format(Locale.ROOT, "%.3f", h / (double) (h + m));
    }

    private static void line(String outFile, String s) throws IOException {
        System.out.println(s);
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

    /** The synthetic shapes this benchmark writes. */
    private static final class OffloadBenchmarkShapes {
        static void write(String shape, QuantPreset q, double zipf, Path file) {
            var spec = switch (shape) {
                case "qwen3-30b-a3b" -> io.offload4j.model.SyntheticModelSpec.qwen3_30b_a3b(q, zipf);
                case "mixtral-8x7b" -> io.offload4j.model.SyntheticModelSpec.mixtral_8x7b(q, zipf);
                case "qwen3-moe-small" -> smallQwen3Moe(q, zipf);
                default -> throw new IllegalArgumentException("unknown shape " + shape
                        + "; choose qwen3-30b-a3b, mixtral-8x7b, qwen3-moe-small");
            };
            long t0 = System.nanoTime();
            SyntheticModelWriter.write(spec, file);
            System.out.printf(Locale.ROOT, "wrote %s in %.0f s%n", file, (System.nanoTime() - t0) / 1e9);
        }

        /** Qwen3-30B-A3B's block shape with 12 blocks (about a quarter of its bytes): quick to write. */
        static io.offload4j.model.SyntheticModelSpec smallQwen3Moe(QuantPreset q, double zipf) {
            var s = io.offload4j.model.SyntheticModelSpec.qwen3_30b_a3b(q, zipf);
            return new io.offload4j.model.SyntheticModelSpec("synthetic-qwen3-moe-12-blocks", s.architecture(),
                    s.embeddingLength(), 12, s.feedForwardLength(), s.headCount(), s.headCountKv(), s.headDim(),
                    s.vocabularySize(), s.contextLength(), q, false, s.seed(), s.moe());
        }
    }
}

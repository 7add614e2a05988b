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
import java.util.List;
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
 *                     [--model PATH] [--budgets 1,8g,4g|1,0.5,0.25] [--modes blocks,experts,experts+prefetch,experts-nographs]
 *                     [--prefill 512] [--llama-bench PATH] [--write-only]
 *                     [--decode-tokens 64] [--decode-warmup 4] [--out moe.md]
 * </pre>
 *
 * Per budget and mode: units resident / streamed, expert slots (cached), prefill tokens/s of one chunk (median of 3
 * after a warm-up), decode tokens/s at batch 1 (after a 16-token prompt), the expert cache's hit rate over the decode
 * steps and over the prefills, experts copied per decode token, and the decode trace replayed from a cold cache of the
 * same capacity under Belady's offline optimum, the experts most used in hindsight kept (about the best an online
 * policy can do when choices are independent draws) and W-TinyLFU. Budget fractions are of the whole model's weights
 * (1 = automatic: everything resident when it fits), or absolute ({@code 8g} = 8 GiB). With {@code --llama-bench} the
 * peer runs on the same file in the same run at each budget and a second table gives the ratios.
 */
public final class MoeOffloadBenchmark {

    private MoeOffloadBenchmark() {}

    public static void main(String[] args) throws IOException, InterruptedException {
        Path dir = Path.of(arg(args, "--dir", "/tmp/offload4j-bench"));
        String shape = arg(args, "--shape", "qwen3-30b-a3b");
        QuantPreset q = QuantPreset.parse(arg(args, "--quant", "Q4_K_M"));
        double zipf = Double.parseDouble(arg(args, "--zipf", "1.0"));
        String[] budgetArgs = arg(args, "--budgets", "1,0.5,0.25,0.1").split(",");
        String[] modes = arg(args, "--modes", "blocks,experts,experts+prefetch").split(",");
        int prefill = Integer.parseInt(arg(args, "--prefill", "512"));
        int decodeTokens = Integer.parseInt(arg(args, "--decode-tokens", "64"));
        // tokens decoded before the timed ones: the host's part of an expert-cache step is JIT-compiled only after a
        // few thousand blocks (48 a token), and until then decode numbers swing by a fifth from run to run
        int decodeWarmup = Integer.parseInt(arg(args, "--decode-warmup", "4"));
        String out = arg(args, "--out", null);
        String llamaBench = arg(args, "--llama-bench", null);
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
        if (Arrays.asList(args).contains("--write-only")) {
            return; // the file only (written ahead, e.g. while something else uses the GPU)
        }
        try (CudaBackend gpu = new CudaBackend(0); Model model = Model.load(file)) {
            long total = OffloadBenchmark.weightBytes(model.weights());
            long[] budgets = Arrays.stream(budgetArgs).mapToLong(b -> budget(b, total)).toArray();
            double pinned = OffloadBenchmark.pinnedBandwidth();
            line(out, String.format(Locale.ROOT, "# MoE offloading: %s (%.2f GiB of weights), Zipf %.2f%n%n%s;"
                    + " pinned host→device now: %.1f GB/s%n", file.getFileName(), total / (double) (1L << 30), zipf,
                    gpu.description(), pinned));
            line(out, "| budget | mode | units resident / streamed | expert slots (cached) | prefill " + prefill
                    + " tok/s | decode b1 tok/s | hit rate decode | hit rate prefill | experts copied per token |"
                    + " CPU experts per token | prediction hit rate |"
                    + " decode trace replayed cold: Belady / most used kept / W-TinyLFU |"
                    + " host µs per decode token: waiting for choices / placing experts |");
            line(out, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            double[][] best = new double[budgets.length][2]; // per budget: our best prefill and decode tok/s
            String[][] bestMode = new String[budgets.length][2];
            for (int i = 0; i < budgets.length; i++) {
                for (String mode : modes) {
                    if (budgets[i] == OffloadOptions.AUTO && !mode.equals(modes[0])) {
                        continue; // resident either way
                    }
                    double[] r = run(gpu, model, budgets[i], total, mode, prefill, decodeTokens, decodeWarmup, out);
                    for (int m = 0; m < 2; m++) {
                        if (r[m] > best[i][m]) {
                            best[i][m] = r[m];
                            bestMode[i][m] = mode;
                        }
                    }
                }
            }
            line(out, "");
            line(out, "llama.cpp on the same file, its MoE placement for the same budget (`--n-cpu-moe N`: the experts of"
                    + " the first N blocks computed on the CPU from host memory, everything else on the GPU):");
            line(out, "");
            if (llamaBench != null) {
                line(out, "| budget | llama.cpp `--n-cpu-moe` | llama.cpp prefill " + prefill + " / decode tok/s"
                        + " | ours, best mode: prefill / decode tok/s | ours / llama.cpp: prefill / decode |");
                line(out, "|---|---|---|---|---|");
            }
            String peerDescription = "llama.cpp: no result";
            for (int i = 0; i < budgets.length; i++) {
                int n = cpuMoeBlocks(model, budgets[i] == OffloadOptions.AUTO ? Long.MAX_VALUE : budgets[i]);
                List<String> command = List.of(llamaBench == null ? "llama-bench" : llamaBench, "-m", file.toString(),
                        "-ngl", "99", "--n-cpu-moe", Integer.toString(n), "-p", Integer.toString(prefill),
                        "-n", Integer.toString(decodeTokens), "-r", "3", "-o", "csv");
                if (llamaBench == null) {
                    line(out, "  budget " + label(budgets[i], total) + ": " + String.join(" ", command));
                    continue;
                }
                Peer peer = runLlamaBench(command, out == null ? null : Path.of(out + ".llama-bench.log"), out);
                peerDescription = peer.description();
                line(out, String.format(Locale.ROOT, "| %s | %d | %.1f / %.2f | %.1f (%s) / %.2f (%s) | %.1f× / %.2f× |",
                        label(budgets[i], total), n, peer.prefill(), peer.decode(), best[i][0], bestMode[i][0], best[i][1],
                        bestMode[i][1], best[i][0] / peer.prefill(), best[i][1] / peer.decode()));
            }
            if (llamaBench != null) {
                line(out, "");
                line(out, peerDescription + ".");
                line(out, "llama.cpp commands: `" + llamaBench + " -m FILE -ngl 99 --n-cpu-moe N -p " + prefill + " -n "
                        + decodeTokens + " -r 3 -o csv` (its default threads); output in the .llama-bench.log beside this file.");
            }
        }
    }

    /** llama-bench's average tok/s for the prompt and the generation test, and what it ran on. */
    private record Peer(double prefill, double decode, String description) {}

    /**
     * Runs llama-bench with {@code -o csv}; its whole output (and stderr) is appended to {@code log}. NaN where a
     * test gave no result (then the report says so).
     */
    private static Peer runLlamaBench(List<String> command, Path log, String out)
            throws IOException, InterruptedException {
        System.out.println("[peer] " + String.join(" ", command));
        Path tmp = Files.createTempFile("llama-bench", ".csv");
        Process p = new ProcessBuilder(command).redirectErrorStream(false).redirectOutput(tmp.toFile())
                .redirectError(ProcessBuilder.Redirect.appendTo(log != null ? log.toFile()
                        : Files.createTempFile("llama-bench", ".err").toFile())).start();
        int rc = p.waitFor();
        List<String> lines = Files.readAllLines(tmp, StandardCharsets.UTF_8);
        if (log != null) {
            Files.write(log, lines, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
        Files.delete(tmp);
        double[] r = {Double.NaN, Double.NaN};
        String description = "llama.cpp: no result";
        List<String> header = null;
        for (String line : lines) {
            if (!line.startsWith("\"") && line.contains("avg_ts")) {
                header = List.of(line.split(","));
                continue;
            }
            if (header == null || !line.startsWith("\"")) {
                continue;
            }
            List<String> v = Arrays.stream(line.substring(1, line.length() - 1).split("\",\"", -1)).toList();
            int nPrompt = Integer.parseInt(v.get(header.indexOf("n_prompt")));
            double ts = Double.parseDouble(v.get(header.indexOf("avg_ts")));
            r[nPrompt > 0 ? 0 : 1] = ts;
            description = "llama.cpp build " + v.get(header.indexOf("build_commit")) + " ("
                    + v.get(header.indexOf("build_number")) + "), " + v.get(header.indexOf("backends")) + ", "
                    + v.get(header.indexOf("n_threads")) + " CPU threads, " + v.get(header.indexOf("gpu_info"));
        }
        if (rc != 0 || Double.isNaN(r[0]) || Double.isNaN(r[1])) {
            line(out, "llama-bench failed (exit " + rc + "), see " + log);
        }
        return new Peer(r[0], r[1], description);
    }


    /** A budget argument: {@code 1} (automatic), a fraction of the weights below 1, or GiB such as {@code 8g}. */
    static long budget(String arg, long total) {
        String a = arg.trim().toLowerCase(Locale.ROOT);
        if (a.endsWith("g") || a.endsWith("gib")) {
            double gib = Double.parseDouble(a.substring(0, a.length() - (a.endsWith("gib") ? 3 : 1)));
            return (long) (gib * (1L << 30));
        }
        double f = Double.parseDouble(a);
        if (f <= 0 || f > 1) {
            throw new IllegalArgumentException("budget " + arg + ": a fraction in (0, 1] or GiB such as 8g");
        }
        return f >= 1 ? OffloadOptions.AUTO : (long) (f * total);
    }

    private static String label(long budget, long total) {
        return budget == OffloadOptions.AUTO ? "all (auto)" : String.format(Locale.ROOT, "%.2f GiB (%.0f%%)",
                budget / (double) (1L << 30), 100.0 * budget / total);
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

    /** One budget and mode; returns {prefill tok/s, decode tok/s}. */
    private static double[] run(CudaBackend gpu, Model model, long budget, long total, String mode, int prefill,
                                int decodeTokens, int decodeWarmup, String out) throws IOException {
        int context = prefill + decodeTokens + decodeWarmup + 32;
        OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(budget)
                .withExpertCache(mode.startsWith("experts")).withExpertPrefetch(mode.startsWith("experts+prefetch"))
                .withGraphs(!mode.endsWith("-nographs")); // e.g. experts-nographs: each launch from the host
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
                int first = 16 + decodeWarmup;
                for (int p = 16; p < first; p++) { // warm-up
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
                for (int p = first; p < first + decodeTokens; p++) {
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
                // the same decode trace replayed from a cold cache of the same capacity: Belady's offline optimum,
                // the most used experts kept (an online policy's ceiling on independent draws), W-TinyLFU
                int e = model.config().moe().expertCount();
                long[] bytes = new long[model.config().blockCount() * e];
                java.util.Arrays.fill(bytes, 1L << 20);
                var replay = new io.offload4j.offload.ExpertCacheReplay(trace.trace(), e, bytes);
                long capacity = (long) d1.cacheSlots() << 20;
                belady = String.format(Locale.ROOT, "%.3f / %.3f / %.3f", replay.belady(capacity).hitRate(),
                        replay.hindsightStatic(capacity).hitRate(), replay.caffeine(capacity).hitRate());
            }
            OffloadStats st = pass.offloadStats();
            String slots = d1 == null ? "–" : d1.slots() + " (" + d1.cacheSlots() + ")";
            String hostUs = hostMicros(d0, d1, decodeTokens);
            line(out, String.format(Locale.ROOT, "| %s | %s | %d / %d | %s | %.0f | %.2f | %s | %s | %s | %s | %s | %s | %s |",
                    label(budget, total), mode,
                    pass.plan().count(Placement.RESIDENT), pass.plan().count(Placement.STREAMED) + st.cpuBlocks(),
                    slots, prefillTps, decodeTps, rate(d0, d1), rate(p0, p1),
                    d1 == null ? "–" : String.format(Locale.ROOT, "%.1f", (d1.copies() + d1.prefetches()
                            - d0.copies() - d0.prefetches()) / (double) decodeTokens),
                    d1 == null ? "–" : String.format(Locale.ROOT, "%.1f", (d1.cpuComputed() - d0.cpuComputed())
                            / (double) decodeTokens),
                    d1 == null || d1.predicted() == d0.predicted() ? "–" : String.format(Locale.ROOT, "%.3f",
                            (d1.predictedRight() - d0.predictedRight()) / (double) (d1.predicted() - d0.predicted())),
                    belady, hostUs));
            return new double[] {prefillTps, decodeTps};
        }
    }

    /** Host µs per decode token waiting for choices / placing experts; "–" for a build before these counters. */
    private static String hostMicros(ExpertCacheStats d0, ExpertCacheStats d1, int decodeTokens) {
        if (d1 == null) {
            return "–";
        }
        try {
            return String.format(Locale.ROOT, "%.0f / %.0f",
                    (d1.routingWaitNanos() - d0.routingWaitNanos()) / 1e3 / decodeTokens,
                    (d1.placingNanos() - d0.placingNanos()) / 1e3 / decodeTokens);
        } catch (NoSuchMethodError e) { // an A/B run against a build before them (its jar ahead on the class path)
            return "–";
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

package io.offload4j.bench;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.engine.EngineOptions;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.quant.CpuKernels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * CPU throughput of offload4j against llama.cpp's CPU backend on the same GGUF file, in one run.
 *
 * <p>For each quantization it writes (or reuses) a synthetic model, measures our prefill (a prompt of
 * {@code -p} random tokens from an empty cache, in chunks of {@code --chunk}) and decode ({@code -n}
 * single-token steps from an empty cache, greedy), the same two tests llama-bench's pp and tg run,
 * then runs {@code llama-bench} on the same file with the same thread count and prints a table.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp ... io.offload4j.bench.CpuBenchmark \
 *     [--shape small] [--quant Q8_0,Q4_0,F16] [--model FILE.gguf] [-p 512] [-n 128] [-t 2] [-r 3]
 *     [--chunk N] [--llama-bench PATH] [--cache-dir DIR] [--ours-only] [--only pp|tg]
 * </pre>
 */
public final class CpuBenchmark {

    record Stat(double mean, double stddev) {
        static Stat of(double[] v) {
            double m = 0;
            for (double x : v) {
                m += x;
            }
            m /= v.length;
            double s = 0;
            for (double x : v) {
                s += (x - m) * (x - m);
            }
            return new Stat(m, v.length > 1 ? Math.sqrt(s / (v.length - 1)) : 0);
        }

        String format() {
            return Double.isNaN(mean) ? "n/a" : String.format(Locale.ROOT, "%.1f ± %.1f", mean, stddev);
        }
    }

    record Row(String label, Path file, long fileBytes, long decodeBytesPerToken, Stat oursPp, Stat oursTg,
               Stat peerPp, Stat peerTg, String note) {}

    static final class Options {
        String shape = "small";
        List<String> quants = new ArrayList<>(List.of("Q8_0", "Q4_0", "F16"));
        Path model;
        int prompt = 512;
        int gen = 128;
        int threads = 2;
        int reps = 3;
        int chunk = EngineOptions.DEFAULTS.chunkTokens();
        Path llamaBench;
        Path cacheDir = Path.of(System.getProperty("java.io.tmpdir"), "offload4j-bench");
        boolean oursOnly;
        boolean doPp = true;
        boolean doTg = true;
        long peerTimeoutSeconds = 3600;
    }

    private CpuBenchmark() {}

    public static void main(String[] args) throws Exception {
        Options o;
        try {
            o = parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.err.println(usage());
            System.exit(2);
            return;
        }
        System.out.println(machine(o));
        List<Row> rows = new ArrayList<>();
        if (o.model != null) {
            rows.add(bench(o, o.model.getFileName().toString(), o.model));
        } else {
            for (String q : o.quants) {
                QuantPreset preset = QuantPreset.parse(q);
                SyntheticModelSpec spec = spec(o.shape, preset);
                Path file;
                try {
                    file = cachedModel(spec, o.cacheDir);
                } catch (RuntimeException e) {
                    System.err.println("[ours] cannot write " + preset + ": " + e.getMessage());
                    rows.add(new Row(preset.name(), null, 0, 0, nan(), nan(), nan(), nan(), "cannot write: " + e.getMessage()));
                    continue;
                }
                rows.add(bench(o, preset.name(), file));
            }
        }
        System.out.println();
        System.out.println(table(o, rows));
    }

    private static Stat nan() {
        return new Stat(Double.NaN, Double.NaN);
    }

    private static Row bench(Options o, String label, Path file) throws Exception {
        Stat pp = nan();
        Stat tg = nan();
        long perToken = 0;
        String note = "";
        try {
            Stat[] ours = ours(o, file);
            pp = ours[0];
            tg = ours[1];
        } catch (RuntimeException e) {
            System.err.println("[ours] " + label + ": " + e);
            note = "ours: " + e.getMessage();
        }
        try (Model m = Model.load(file)) {
            perToken = decodeBytesPerToken(m.weights());
        }
        Stat peerPp = nan();
        Stat peerTg = nan();
        if (o.llamaBench != null && !o.oursOnly) {
            try {
                for (LlamaBench.Result r : LlamaBench.run(o.llamaBench, file, o.threads, o.doPp ? o.prompt : 0,
                        o.doTg ? o.gen : 0, o.reps, o.peerTimeoutSeconds)) {
                    if (r.nPrompt() > 0 && r.nGen() == 0) {
                        peerPp = new Stat(r.avgTokensPerSecond(), r.stddevTokensPerSecond());
                    } else if (r.nGen() > 0 && r.nPrompt() == 0) {
                        peerTg = new Stat(r.avgTokensPerSecond(), r.stddevTokensPerSecond());
                    }
                    peerInfo = "llama.cpp " + r.buildCommit() + ", backends " + r.backends() + ", " + r.threads()
                            + " threads";
                }
            } catch (IOException | RuntimeException e) {
                System.err.println("[peer] " + label + ": " + e);
                note = (note.isEmpty() ? "" : note + "; ") + "llama.cpp: " + e.getMessage();
            }
        }
        Row row = new Row(label, file, Files.size(file), perToken, pp, tg, peerPp, peerTg, note);
        System.err.printf(Locale.ROOT, "[result] %s: ours pp %s tg %s | llama.cpp pp %s tg %s%n", label,
                pp.format(), tg.format(), peerPp.format(), peerTg.format());
        return row;
    }

    private static String peerInfo = "";

    /** Our prefill and decode throughput (tokens/s) over {@code reps} repetitions, after a warm-up. */
    static Stat[] ours(Options o, Path file) {
        try (Model model = Model.load(file); CpuBackend backend = new CpuBackend(o.threads)) {
            int vocab = model.config().vocabularySize();
            int context = Math.max(o.prompt, o.gen) + 1;
            int chunk = Math.max(1, Math.min(o.chunk, o.prompt));
            try (ForwardPass pass = backend.prepare(model, context, chunk)) {
                float[] logits = new float[vocab];
                SplittableRandom random = new SplittableRandom(1234);
                int[] prompt = new int[o.prompt];
                prompt[0] = 1;
                for (int i = 1; i < prompt.length; i++) {
                    prompt[i] = 259 + random.nextInt(vocab - 259);
                }
                int[] tokens = new int[o.gen + 1];
                System.err.printf(Locale.ROOT, "[ours] %s: %s, warm-up%n", file.getFileName(), backend.description());
                // Warm-up: the JIT compiles the kernels on the first calls.
                try (KvCache cache = pass.newKvCache(context)) {
                    if (o.doPp) {
                        prefill(pass, cache, prompt, Math.min(prompt.length, 2 * chunk), chunk, logits);
                    }
                    if (o.doTg) {
                        decode(pass, cache, tokens, Math.min(o.gen, 16), logits);
                    }
                }
                double[] pp = new double[o.reps];
                double[] tg = new double[o.reps];
                for (int r = 0; r < o.reps; r++) {
                    if (o.doPp) {
                        try (KvCache cache = pass.newKvCache(context)) {
                            long t0 = System.nanoTime();
                            prefill(pass, cache, prompt, prompt.length, chunk, logits);
                            pp[r] = prompt.length / ((System.nanoTime() - t0) / 1e9);
                        }
                        System.err.printf(Locale.ROOT, "[ours] pp%d rep %d: %.2f tok/s%n", o.prompt, r, pp[r]);
                    }
                    if (o.doTg) {
                        try (KvCache cache = pass.newKvCache(context)) {
                            long t0 = System.nanoTime();
                            decode(pass, cache, tokens, o.gen, logits);
                            tg[r] = o.gen / ((System.nanoTime() - t0) / 1e9);
                        }
                        System.err.printf(Locale.ROOT, "[ours] tg%d rep %d: %.2f tok/s%n", o.gen, r, tg[r]);
                    }
                }
                return new Stat[] {o.doPp ? Stat.of(pp) : nan(), o.doTg ? Stat.of(tg) : nan()};
            }
        }
    }

    private static void prefill(ForwardPass pass, KvCache cache, int[] prompt, int n, int chunk, float[] logits) {
        for (int pos = 0; pos < n; pos += chunk) {
            pass.forward(cache, prompt, pos, Math.min(chunk, n - pos), pos, logits);
        }
    }

    /** {@code n} greedy steps from an empty cache, starting at BOS (like llama-bench's tg test). */
    private static void decode(ForwardPass pass, KvCache cache, int[] tokens, int n, float[] logits) {
        tokens[0] = 1;
        for (int i = 0; i < n; i++) {
            pass.forward(cache, tokens, i, 1, i, logits);
            tokens[i + 1] = argmax(logits);
        }
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** Weight bytes one decode step streams: every projection and the output, one embedding row. */
    static long decodeBytesPerToken(ModelWeights w) {
        long total = w.totalMatrixBytes();
        if (w.tiedEmbeddings()) {
            return total;
        }
        return total - w.tokenEmbedding().byteSize() + w.tokenEmbedding().rowBytes();
    }

    static SyntheticModelSpec spec(String shape, QuantPreset q) {
        return switch (shape) {
            case "tiny" -> SyntheticModelSpec.tiny(Architecture.LLAMA, q);
            case "small" -> SyntheticModelSpec.small(q);
            case "llama32-3b" -> SyntheticModelSpec.llama32_3b(q);
            case "llama3-8b" -> SyntheticModelSpec.llama3_8b(q);
            default -> throw new IllegalArgumentException("unknown shape '" + shape
                    + "'; choose tiny, small, llama32-3b, llama3-8b");
        };
    }

    /** The synthetic model for {@code spec}, written once into {@code dir} and reused (keyed by the whole spec). */
    static Path cachedModel(SyntheticModelSpec spec, Path dir) throws IOException {
        String key;
        try {
            byte[] h = MessageDigest.getInstance("SHA-256").digest(spec.toString().getBytes(StandardCharsets.UTF_8));
            key = HexFormat.of().formatHex(h, 0, 6);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        Files.createDirectories(dir);
        Path file = dir.resolve(spec.name() + "-" + spec.quantization().name().toLowerCase(Locale.ROOT) + "-" + key + ".gguf");
        if (Files.isRegularFile(file)) {
            System.err.println("[model] reusing " + file);
            return file;
        }
        Path tmp = Files.createTempFile(dir, "writing-", ".gguf");
        try {
            long t0 = System.nanoTime();
            SyntheticModelWriter.write(spec, tmp);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
            System.err.printf(Locale.ROOT, "[model] wrote %s (%.2f GB) in %.1f s%n", file, Files.size(file) / 1e9,
                    (System.nanoTime() - t0) / 1e9);
        } finally {
            Files.deleteIfExists(tmp);
        }
        return file;
    }

    static String table(Options o, List<Row> rows) {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "pp%d = prefill of %d tokens (ours in chunks of %d), tg%d = %d decode steps;"
                + " tokens/s, mean ± stddev of %d runs, %d threads each.%n", o.prompt, o.prompt, Math.min(o.chunk, o.prompt),
                o.gen, o.gen, o.reps, o.threads));
        if (!peerInfo.isEmpty()) {
            b.append("Peer: ").append(peerInfo).append(".\n");
        }
        b.append("Decode GB/s = weight bytes streamed per token × tokens/s.\n\n");
        b.append("| model | size | test | offload4j | llama.cpp | ratio | offload4j GB/s | llama.cpp GB/s |\n");
        b.append("|---|---:|---|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            String size = r.file() == null ? "-" : String.format(Locale.ROOT, "%.2f GB", r.fileBytes() / 1e9);
            if (o.doPp) {
                b.append(String.format(Locale.ROOT, "| %s | %s | pp%d | %s | %s | %s | | |%n", r.label(), size, o.prompt,
                        r.oursPp().format(), r.peerPp().format(), ratio(r.oursPp(), r.peerPp())));
            }
            if (o.doTg) {
                b.append(String.format(Locale.ROOT, "| %s | %s | tg%d | %s | %s | %s | %s | %s |%n", r.label(), size, o.gen,
                        r.oursTg().format(), r.peerTg().format(), ratio(r.oursTg(), r.peerTg()),
                        gbs(r.decodeBytesPerToken(), r.oursTg()), gbs(r.decodeBytesPerToken(), r.peerTg())));
            }
        }
        for (Row r : rows) {
            if (!r.note().isEmpty()) {
                b.append("\n").append(r.label()).append(": ").append(r.note());
            }
        }
        return b.toString();
    }

    private static String ratio(Stat ours, Stat peer) {
        if (Double.isNaN(ours.mean()) || Double.isNaN(peer.mean()) || peer.mean() == 0) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%.2f", ours.mean() / peer.mean());
    }

    private static String gbs(long bytesPerToken, Stat tg) {
        if (Double.isNaN(tg.mean()) || bytesPerToken == 0) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%.1f", bytesPerToken * tg.mean() / 1e9);
    }

    static String machine(Options o) {
        String cpu = "?";
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) {
                    cpu = line.substring(line.indexOf(':') + 1).trim();
                    break;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux
        }
        return String.format(Locale.ROOT, "Machine: %s, %d processors, Java %s (%s), Vector API kernels: %s",
                cpu, Runtime.getRuntime().availableProcessors(), Runtime.version(), System.getProperty("java.vm.name"),
                CpuKernels.vectorized() ? "yes" : "no");
    }

    static Options parse(String[] args) {
        Options o = new Options();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--shape" -> o.shape = value(args, ++i, a);
                case "--quant", "-q" -> o.quants = List.of(value(args, ++i, a).split(","));
                case "--model", "-m" -> o.model = Path.of(value(args, ++i, a));
                case "--prompt", "-p" -> o.prompt = positive(args, ++i, a);
                case "--gen", "-n" -> o.gen = positive(args, ++i, a);
                case "--threads", "-t" -> o.threads = positive(args, ++i, a);
                case "--reps", "-r" -> o.reps = positive(args, ++i, a);
                case "--chunk" -> o.chunk = positive(args, ++i, a);
                case "--llama-bench" -> o.llamaBench = Path.of(value(args, ++i, a));
                case "--cache-dir" -> o.cacheDir = Path.of(value(args, ++i, a));
                case "--peer-timeout" -> o.peerTimeoutSeconds = positive(args, ++i, a);
                case "--ours-only" -> o.oursOnly = true;
                case "--only" -> {
                    String t = value(args, ++i, a);
                    o.doPp = t.equals("pp");
                    o.doTg = t.equals("tg");
                    if (!o.doPp && !o.doTg) {
                        throw new IllegalArgumentException("--only takes pp or tg");
                    }
                }
                case "--help", "-h" -> {
                    System.out.println(usage());
                    System.exit(0);
                }
                default -> throw new IllegalArgumentException("unknown argument '" + a + "'");
            }
        }
        if (o.llamaBench != null && !Files.isExecutable(o.llamaBench)) {
            throw new IllegalArgumentException("--llama-bench " + o.llamaBench + " is not an executable file");
        }
        return o;
    }

    private static String value(String[] args, int i, String name) {
        if (i >= args.length) {
            throw new IllegalArgumentException(name + " needs a value");
        }
        return args[i];
    }

    private static int positive(String[] args, int i, String name) {
        try {
            int v = Integer.parseInt(value(args, i, name));
            if (v < 1) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " needs a positive integer, got '" + args[i] + "'");
        }
    }

    static String usage() {
        return """
                usage: CpuBenchmark [options]
                  --shape tiny|small|llama32-3b|llama3-8b  synthetic model shape (default small, ~410M params)
                  --quant Q8_0,Q4_0,F16                    quantizations to write and compare (default Q8_0,Q4_0,F16)
                  --model FILE.gguf                        benchmark this file instead of synthetic models
                  -p, --prompt N                           prefill length (default 512)
                  -n, --gen N                              decode steps (default 128)
                  -t, --threads N                          threads, ours and llama.cpp's (default 2)
                  -r, --reps N                             repetitions (default 3)
                  --chunk N                                our prefill chunk (default: the engine's, %d)
                  --llama-bench PATH                       llama.cpp's llama-bench; without it only ours runs
                  --cache-dir DIR                          where synthetic models are kept (default $TMPDIR/offload4j-bench)
                  --only pp|tg                             run one of the two tests
                  --ours-only                              skip llama.cpp
                """.formatted(EngineOptions.DEFAULTS.chunkTokens());
    }
}

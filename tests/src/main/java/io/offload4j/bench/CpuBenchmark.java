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
 *     [--chunk N] [--llama-bench PATH] [--cache-dir DIR] [--ours-only] [--only pp|tg] [--batch 1,4,8]
 * </pre>
 *
 * <p>With {@code --batch} it measures batched decode instead ({@link BatchedDecode}): B sequences
 * advanced together by {@code ForwardPass.forwardBatch}, aggregate tokens/s per batch size.
 */
public final class CpuBenchmark {

    /** Throughput samples (tokens/s) of one test. */
    record Stat(double[] samples) {
        static final Stat NONE = new Stat(new double[0]);

        boolean present() {
            return samples.length > 0;
        }

        double median() {
            if (!present()) {
                return Double.NaN;
            }
            double[] v = samples.clone();
            java.util.Arrays.sort(v);
            int n = v.length;
            return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        }

        double best() {
            double m = Double.NaN;
            for (double x : samples) {
                m = Double.isNaN(m) ? x : Math.max(m, x);
            }
            return m;
        }

        Stat plus(double sample) {
            double[] v = java.util.Arrays.copyOf(samples, samples.length + 1);
            v[samples.length] = sample;
            return new Stat(v);
        }

        String format() {
            return present() ? String.format(Locale.ROOT, "%.1f (%.1f)", median(), best()) : "n/a";
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
        long peerTimeoutSeconds = 1800;
        /** Before each repetition, wait up to this long for the other processes to leave the CPUs idle. */
        int quietWaitSeconds = 0;
        /** "Idle": the rest of the machine used less than this fraction of all CPUs over half a second. */
        double quietBusyFraction = 0.10;
        /** Batch sizes for the batched-decode measurement; null = the usual pp/tg comparison. */
        List<Integer> batches;
    }

    private static String peerInfo = "";
    private static final List<String> LOADS = new ArrayList<>();

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
        if (o.batches != null) {
            BatchedDecode.run(o);
            return;
        }
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
                    System.err.println("[model] cannot write " + preset + ": " + e.getMessage());
                    rows.add(new Row(preset.name(), null, 0, 0, Stat.NONE, Stat.NONE, Stat.NONE, Stat.NONE,
                            "cannot write: " + e.getMessage()));
                    continue;
                }
                rows.add(bench(o, preset.name(), file));
            }
        }
        System.out.println();
        System.out.println(table(o, rows));
    }

    /**
     * Ours and the peer's repetitions alternate (ours pp, peer pp, ours tg, peer tg, and again), so
     * that both see the same machine when other work comes and goes.
     */
    private static Row bench(Options o, String label, Path file) throws Exception {
        Stat pp = Stat.NONE;
        Stat tg = Stat.NONE;
        Stat peerPp = Stat.NONE;
        Stat peerTg = Stat.NONE;
        String note = "";
        long perToken;
        boolean peer = o.llamaBench != null && !o.oursOnly;
        LOADS.add(label + " start " + loadAverage());
        try (Ours ours = new Ours(o, file)) {
            perToken = decodeBytesPerToken(ours.model.weights());
            System.err.printf(Locale.ROOT, "[ours] %s: %s, warm-up%n", file.getFileName(), ours.description());
            ours.warmUp();
            for (int r = 0; r < o.reps; r++) {
                if (o.doPp) {
                    quiet(o);
                    pp = pp.plus(log("ours", "pp", r, ours.prefill()));
                    if (peer) {
                        quiet(o);
                        peerPp = peerPp.plus(log("peer", "pp", r, peer(o, file, o.prompt, 0)));
                    }
                }
                if (o.doTg) {
                    quiet(o);
                    tg = tg.plus(log("ours", "tg", r, ours.decode()));
                    if (peer) {
                        quiet(o);
                        peerTg = peerTg.plus(log("peer", "tg", r, peer(o, file, 0, o.gen)));
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("[bench] " + label + ": " + e);
            note = e.toString();
            try (Model m = Model.load(file)) {
                perToken = decodeBytesPerToken(m.weights());
            }
        }
        LOADS.add(label + " end " + loadAverage());
        Row row = new Row(label, file, Files.size(file), perToken, pp, tg, peerPp, peerTg, note);
        System.err.printf(Locale.ROOT, "[result] %s: ours pp %s tg %s | llama.cpp pp %s tg %s%n", label,
                pp.format(), tg.format(), peerPp.format(), peerTg.format());
        return row;
    }

    private static double log(String who, String test, int rep, double tokensPerSecond) {
        System.err.printf(Locale.ROOT, "[%s] %s rep %d: %.2f tok/s%n", who, test, rep, tokensPerSecond);
        return tokensPerSecond;
    }

    /** One llama-bench repetition of one test (it warms up first, as it always does). */
    private static double peer(Options o, Path file, int prompt, int gen) throws IOException, InterruptedException {
        List<LlamaBench.Result> results = LlamaBench.run(o.llamaBench, file, o.threads, prompt, gen, 1,
                o.peerTimeoutSeconds);
        for (LlamaBench.Result r : results) {
            if (r.nPrompt() == prompt && r.nGen() == gen) {
                peerInfo = "llama.cpp " + r.buildCommit() + ", " + r.backends() + " backend, " + r.threads() + " threads";
                return r.avgTokensPerSecond();
            }
        }
        throw new IOException("llama-bench reported no pp" + prompt + "/tg" + gen + " result");
    }

    private static int quietWaits;
    private static int noisyRuns;

    /**
     * Waits (up to the option's limit) until the other processes leave the CPUs idle, so that a
     * repetition runs on a quiet machine even where builds and tests of others come and go.
     */
    static void quiet(Options o) throws InterruptedException {
        if (o.quietWaitSeconds <= 0) {
            return;
        }
        long deadline = System.nanoTime() + o.quietWaitSeconds * 1_000_000_000L;
        boolean waited = false;
        while (true) {
            double busy = busyFraction(500);
            if (busy < o.quietBusyFraction || Double.isNaN(busy)) {
                if (waited) {
                    quietWaits++;
                }
                return;
            }
            if (System.nanoTime() > deadline) {
                noisyRuns++;
                System.err.printf(Locale.ROOT, "[bench] machine still busy (%.0f%% of the CPUs) after %d s; measuring anyway%n",
                        100 * busy, o.quietWaitSeconds);
                return;
            }
            if (!waited) {
                System.err.printf(Locale.ROOT, "[bench] waiting for a quiet machine (others use %.0f%% of the CPUs)%n", 100 * busy);
            }
            waited = true;
        }
    }

    /** Fraction of all CPUs' time spent busy over the next {@code millis} (from /proc/stat; NaN elsewhere). */
    static double busyFraction(long millis) throws InterruptedException {
        long[] a = cpuTicks();
        Thread.sleep(millis);
        long[] b = cpuTicks();
        if (a == null || b == null || b[0] == a[0]) {
            return Double.NaN;
        }
        return 1.0 - (double) (b[1] - a[1]) / (b[0] - a[0]);
    }

    /** {total, idle + iowait} jiffies of all CPUs, or null. */
    private static long[] cpuTicks() {
        try {
            String line = Files.readAllLines(Path.of("/proc/stat")).get(0);
            String[] f = line.trim().split("\\s+");
            long total = 0;
            for (int i = 1; i < f.length; i++) {
                total += Long.parseLong(f[i]);
            }
            return new long[] {total, Long.parseLong(f[4]) + Long.parseLong(f[5])};
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    static String loadAverage() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return "?";
        }
    }

    /** Our engine on one file: the forward pass, measured like llama-bench's pp and tg tests. */
    static final class Ours implements AutoCloseable {
        final Model model;
        private final CpuBackend backend;
        private final ForwardPass pass;
        private final Options o;
        private final int context;
        private final int chunk;
        private final int[] prompt;
        private final int[] tokens;
        private final float[] logits;

        Ours(Options o, Path file) {
            this.o = o;
            this.model = Model.load(file);
            try {
                this.backend = new CpuBackend(o.threads);
                int vocab = model.config().vocabularySize();
                this.context = Math.max(o.prompt, o.gen) + 1;
                this.chunk = Math.max(1, Math.min(o.chunk, o.prompt));
                this.pass = backend.prepare(model, context, chunk);
                this.logits = new float[vocab];
                SplittableRandom random = new SplittableRandom(1234);
                this.prompt = new int[o.prompt];
                prompt[0] = 1;
                for (int i = 1; i < prompt.length; i++) {
                    prompt[i] = 259 + random.nextInt(vocab - 259);
                }
                this.tokens = new int[o.gen + 1];
            } catch (RuntimeException e) {
                model.close();
                throw e;
            }
        }

        String description() {
            return backend.description();
        }

        /** The JIT compiles the kernels on the first calls: one short prefill and a few decode steps. */
        void warmUp() {
            try (KvCache cache = pass.newKvCache(context)) {
                if (o.doPp) {
                    fill(cache, Math.min(prompt.length, 2 * chunk));
                }
            }
            try (KvCache cache = pass.newKvCache(context)) {
                if (o.doTg) {
                    steps(cache, Math.min(o.gen, 16));
                }
            }
        }

        /** Prefill of the whole prompt from an empty cache, in chunks: tokens/s. */
        double prefill() {
            try (KvCache cache = pass.newKvCache(context)) {
                long t0 = System.nanoTime();
                fill(cache, prompt.length);
                return prompt.length / ((System.nanoTime() - t0) / 1e9);
            }
        }

        /** {@code gen} greedy single-token steps from an empty cache (like llama-bench's tg): tokens/s. */
        double decode() {
            try (KvCache cache = pass.newKvCache(context)) {
                long t0 = System.nanoTime();
                steps(cache, o.gen);
                return o.gen / ((System.nanoTime() - t0) / 1e9);
            }
        }

        private void fill(KvCache cache, int n) {
            for (int pos = 0; pos < n; pos += chunk) {
                pass.forward(cache, prompt, pos, Math.min(chunk, n - pos), pos, logits);
            }
        }

        private void steps(KvCache cache, int n) {
            tokens[0] = 1;
            for (int i = 0; i < n; i++) {
                pass.forward(cache, tokens, i, 1, i, logits);
                tokens[i + 1] = argmax(logits);
            }
        }

        @Override
        public void close() {
            try {
                pass.close();
                backend.close();
            } finally {
                model.close();
            }
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
            // Llama 3.2 1B's shape (1.24 B parameters, tied embeddings, 128256-token vocabulary).
            case "llama32-1b" -> new SyntheticModelSpec("synthetic-llama-3.2-1b", Architecture.LLAMA, 2048, 16, 8192,
                    32, 8, 64, 128256, 4096, q, true, 1);
            case "llama32-3b" -> SyntheticModelSpec.llama32_3b(q);
            case "llama3-8b" -> SyntheticModelSpec.llama3_8b(q);
            default -> throw new IllegalArgumentException("unknown shape '" + shape
                    + "'; choose tiny, small, llama32-1b, llama32-3b, llama3-8b");
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
                + " tokens/s, median (best) of %d runs, %d threads each;%n"
                + "ours and llama.cpp's runs alternate, so both see the same machine.%n", o.prompt, o.prompt, Math.min(o.chunk, o.prompt),
                o.gen, o.gen, o.reps, o.threads));
        if (!peerInfo.isEmpty()) {
            b.append("Peer: ").append(peerInfo).append(".\n");
        }
        b.append("Ratio = ours / llama.cpp, of the medians. Decode GB/s = weight bytes streamed per token × median tokens/s.\n");
        b.append("Load average (1, 5, 15 min) during the runs: ").append(String.join("; ", LOADS)).append(".\n");
        b.append(String.format(Locale.ROOT, "Repetitions that waited for a quiet machine: %d; that ran on a busy one: %d.%n%n",
                quietWaits, noisyRuns));
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
        if (!ours.present() || !peer.present()) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%.2f", ours.median() / peer.median());
    }

    private static String gbs(long bytesPerToken, Stat tg) {
        if (!tg.present() || bytesPerToken == 0) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%.1f", bytesPerToken * tg.median() / 1e9);
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
                case "--quiet-wait" -> o.quietWaitSeconds = Integer.parseInt(value(args, ++i, a));
                case "--ours-only" -> o.oursOnly = true;
                case "--batch" -> o.batches = positiveList(value(args, ++i, a), a);
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

    private static List<Integer> positiveList(String value, String name) {
        List<Integer> out = new ArrayList<>();
        for (String part : value.split(",")) {
            try {
                int v = Integer.parseInt(part.trim());
                if (v < 1) {
                    throw new NumberFormatException();
                }
                out.add(v);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(name + " needs positive integers separated by commas, got '" + value + "'");
            }
        }
        return out;
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
                  --shape tiny|small|llama32-1b|llama32-3b|llama3-8b  synthetic model shape (default small, ~410M params)
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
                  --batch 1,4,8                            measure batched decode instead: -n steps of B sequences
                                                           at once (forwardBatch), aggregate tokens/s per batch size
                  --quiet-wait SECONDS                     before each run, wait up to this long for other processes
                                                           to leave the CPUs idle (default 0: don't wait)
                """.formatted(EngineOptions.DEFAULTS.chunkTokens());
    }
}

package io.offload4j.engine;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;

/**
 * A server's view of throughput: N requests arrive together (N = 1, 8, 32, 64 by default), each with its own prompt of
 * P tokens and a reply of up to R tokens, all through the engine's public request API ({@link InferenceEngine#submit},
 * the one the LangChain4j models and the Spring starter use), greedy. Reported per N: aggregate generated tokens/s
 * (from the first submit to the last completion), time to first token (submit → first token at the listener) and
 * inter-token latency (gap between a request's consecutive tokens), p50 / p99 over all requests, and the mean reply
 * length (a random-weight model may end a reply early with its end-of-text token). A program, not a test:
 *
 * <pre>
 * ServingBenchmark [--model FILE | --shape mini|small|llama32-3b|llama3-8b] [--quant Q4_K_M] [--device cpu|cuda]
 *                  [--concurrency 1,8,32,64] [--prompt 512] [--reply 128] [--budget 0 (auto) | GiB] [--out FILE.md]
 *                  [--shared-prefix 0] [--context prompt+reply+16]
 * </pre>
 *
 * {@code --shared-prefix S}: the first S tokens of every prompt of a round are the same (a RAG app's system prompt and
 * instructions; BOS included), the rest each request's own; a request copies them from one running beside it
 * ({@code LivePrefixCopy}) where the engine does so. Each round draws its own shared part.
 *
 * {@code --max-sequences} (default: the largest N; 0: the engine's automatic choice, from free memory) is how many
 * requests the scheduler advances together; the others queue, which shows in their time to first token. The header
 * prints the number the engine runs with and its memory report (which says how it was chosen). {@code --context}: the
 * context every request may reach (its KV cache's capacity without max tokens, what the heap is planned for).
 */
public final class ServingBenchmark {

    private ServingBenchmark() {}

    public static void main(String[] args) throws Exception {
        String device = arg(args, "--device", "cpu");
        int[] concurrency = Arrays.stream(arg(args, "--concurrency", "1,8,32,64").split(","))
                .mapToInt(Integer::parseInt).toArray();
        int prompt = Integer.parseInt(arg(args, "--prompt", "512"));
        int reply = Integer.parseInt(arg(args, "--reply", "128"));
        int maxSequences = Integer.parseInt(arg(args, "--max-sequences",
                Integer.toString(Arrays.stream(concurrency).max().orElse(1))));
        double budgetGiB = Double.parseDouble(arg(args, "--budget", "0"));
        String out = arg(args, "--out", null);
        int sharedPrefix = Integer.parseInt(arg(args, "--shared-prefix", "0"));
        int context = Integer.parseInt(arg(args, "--context", String.valueOf(prompt + reply + 16)));
        Path model = model(args);
        OffloadOptions offload = budgetGiB > 0
                ? OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (budgetGiB * (1L << 30))) : OffloadOptions.DEFAULTS;
        EngineOptions options = EngineOptions.DEFAULTS.withDevice(device).withContextLength(context).withContextBeyondTraining(true)
                .withMaxSequences(maxSequences).withPrefixCacheBytes(0).withOffload(offload);
        try (InferenceEngine engine = InferenceEngine.load(model, options)) {
            // the engine's own number: with --max-sequences 0 (automatic) the one it chose, and why
            line(out, String.format(Locale.ROOT, "# Serving: %s on %s, prompts of %d tokens (the first %d the same"
                    + " in a round), replies of up to %d, max sequences %d (asked for %d)%n%s%n", model.getFileName(),
                    device, prompt, Math.min(sharedPrefix, prompt), reply, engine.maxSequences(), maxSequences,
                    engine.memoryReport()));
            line(out, "| requests at once | aggregate tok/s | TTFT p50 / p99 ms | inter-token p50 / p99 ms |"
                    + " mean reply tokens | wall s |");
            line(out, "|---|---|---|---|---|---|");
            run(engine, 1, Math.min(prompt, 64), 8, 7, 0); // warm-up: JIT, kernels, graphs
            for (int n : concurrency) {
                line(out, run(engine, n, prompt, reply, 100 + n, sharedPrefix).row(n));
            }
            line(out, engine.memoryReport()); // on the CPU: the most its KV caches' pages held at once
        }
    }

    /**
     * One round: n requests submitted together, each with distinct random-word prompts whose first
     * {@code sharedPrefix} tokens are the same.
     */
    static Round run(InferenceEngine engine, int n, int prompt, int reply, long seed, int sharedPrefix) {
        int[] shared = words(engine, Math.min(sharedPrefix, prompt), seed * 1000 + 999);
        List<Recorder> recorders = new ArrayList<>();
        List<CompletableFuture<GenerationResult>> results = new ArrayList<>();
        long start = System.nanoTime();
        for (int i = 0; i < n; i++) {
            Recorder r = new Recorder(reply, System.nanoTime());
            recorders.add(r);
            int[] tokens = words(engine, prompt, seed * 1000 + i);
            System.arraycopy(shared, 0, tokens, 0, shared.length);
            results.add(engine.submit(GenerationRequest.of(tokens, reply, SamplingParams.GREEDY), r).result());
        }
        results.forEach(CompletableFuture::join);
        long wall = System.nanoTime() - start;
        long tokens = 0;
        List<Long> ttft = new ArrayList<>();
        List<Long> itl = new ArrayList<>();
        for (Recorder r : recorders) {
            tokens += r.count;
            if (r.count > 0) {
                ttft.add(r.times[0] - r.submitted);
            }
            for (int t = 1; t < r.count; t++) {
                itl.add(r.times[t] - r.times[t - 1]);
            }
        }
        return new Round(tokens / (wall / 1e9), percentile(ttft, 50), percentile(ttft, 99), percentile(itl, 50),
                percentile(itl, 99), tokens / (double) n, wall / 1e9);
    }

    /** The figures of one round (milliseconds for latencies). */
    record Round(double tokensPerSecond, double ttftP50, double ttftP99, double itlP50, double itlP99,
                 double meanReply, double wallSeconds) {
        String row(int n) {
            return String.format(Locale.ROOT, "| %d | %.1f | %.1f / %.1f | %.2f / %.2f | %.1f | %.1f |", n,
                    tokensPerSecond, ttftP50, ttftP99, itlP50, itlP99, meanReply, wallSeconds);
        }
    }

    /** A request's token arrival times (the listener runs on the engine's thread: an array, no allocation per token). */
    private static final class Recorder implements GenerationListener {
        final long submitted;
        final long[] times;
        int count;

        Recorder(int reply, long submitted) {
            this.times = new long[reply];
            this.submitted = submitted;
        }

        @Override
        public void onToken(int token) {
            if (count < times.length) {
                times[count++] = System.nanoTime();
            }
        }
    }

    static double percentile(List<Long> values, int p) {
        if (values.isEmpty()) {
            return Double.NaN;
        }
        long[] v = values.stream().mapToLong(Long::longValue).sorted().toArray();
        int i = (int) Math.ceil(p / 100.0 * v.length) - 1;
        return v[Math.max(0, Math.min(v.length - 1, i))] / 1e6;
    }

    /** BOS and {@code n - 1} random word tokens (no special or byte tokens), reproducible from the seed. */
    private static int[] words(InferenceEngine e, int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int vocab = e.tokenizer().vocabularySize();
        int[] t = new int[n];
        if (n == 0) {
            return t;
        }
        t[0] = e.tokenizer().bosToken();
        for (int i = 1; i < n; i++) {
            t[i] = 400 + random.nextInt(vocab - 400);
        }
        return t;
    }

    private static Path model(String[] args) throws Exception {
        String file = arg(args, "--model", null);
        if (file != null) {
            return Path.of(file);
        }
        String shape = arg(args, "--shape", "mini");
        QuantPreset q = QuantPreset.parse(arg(args, "--quant", "Q4_K_M"));
        SyntheticModelSpec spec = switch (shape) {
            case "mini" -> new SyntheticModelSpec("synthetic-mini", Architecture.LLAMA, 512, 4, 1536, 8, 4, 0, 4000,
                    2048, q, false, 7);
            case "small" -> SyntheticModelSpec.small(q);
            case "llama32-3b" -> SyntheticModelSpec.llama32_3b(q);
            case "llama3-8b" -> SyntheticModelSpec.llama3_8b(q);
            default -> throw new IllegalArgumentException("--shape: mini, small, llama32-3b or llama3-8b, was " + shape);
        };
        Path dir = Path.of(arg(args, "--dir", System.getProperty("java.io.tmpdir")));
        Path path = dir.resolve("serving-" + shape + "-" + q + ".gguf");
        if (!Files.exists(path)) {
            SyntheticModelWriter.write(spec, path);
        }
        return path;
    }

    private static void line(String out, String s) throws java.io.IOException {
        System.out.println(s);
        if (out != null) {
            Files.writeString(Path.of(out), s + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE,
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

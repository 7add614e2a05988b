package io.offload4j.reliability;

import io.offload4j.engine.ContextLengthExceededException;
import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.EngineStats;
import io.offload4j.engine.FinishReason;
import io.offload4j.engine.GenerationListener;
import io.offload4j.engine.GenerationRequest;
import io.offload4j.engine.GenerationResult;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.engine.SamplingParams;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Load and soak for the engine: rounds of mixed requests from several client threads (greedy ones whose tokens must
 * equal those of a sequential run, streamed samples and requests cancelled after two tokens on prompts never seen
 * before, requests refused for an impossible max tokens), bounded by a number of rounds and a time limit. After each round it reports the Java heap
 * (after a GC), the process's RSS, the failures, and checks that no KV cache is still counted as running. With
 * {@code --sample-seconds S} a sampler also prints heap, RSS and, on a GPU, free device memory
 * ({@code cuMemGetInfo}) every S seconds.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -cp ... \
 *     io.offload4j.reliability.ProviderSoak [--model PATH | --shape tiny|small] [--device cpu|cuda|auto]
 *     [--rounds N] [--requests N] [--clients N] [--max-tokens N] [--minutes M] [--sample-seconds S]
 * </pre>
 * Exits 1 when any request failed, any greedy output differed or a KV cache leaked.
 */
public final class ProviderSoak {

    /** How much load, for how long. */
    public record Options(int rounds, int requestsPerRound, int clients, int maxTokens, long maxSeconds,
                          long sampleSeconds) {
        public static final Options CI = new Options(4, 40, 6, 12, 60, 0);
    }

    /** What one round measured. */
    public record Round(int index, int requests, int failures, int cancelled, int refused, long heapAfterGcBytes,
                        long rssBytes, long runningKvCacheBytes, long prefixCacheBytes, double seconds) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "round %3d: %4d requests, %d failed, %d cancelled, %d refused;"
                            + " heap after GC %4d MB, RSS %5d MB, running KV %d B, prefix cache %d KB; %.1f s",
                    index, requests, failures, cancelled, refused, heapAfterGcBytes >> 20, rssBytes >> 20,
                    runningKvCacheBytes, prefixCacheBytes >> 10, seconds);
        }
    }

    /** All rounds, and a line for every failure (at most 50 kept). */
    public record Report(List<Round> rounds, List<String> failures) {
        public boolean ok() {
            return failures.isEmpty();
        }
    }

    private static final int PROMPTS = 8;

    private final InferenceEngine engine;
    private final Options options;
    private final PrintStream log;
    private final List<int[]> prompts = new ArrayList<>();
    private final List<int[]> reference = new ArrayList<>();
    private final List<String> failures = Collections.synchronizedList(new ArrayList<>());

    private ProviderSoak(InferenceEngine engine, Options options, PrintStream log) {
        this.engine = engine;
        this.options = options;
        this.log = log;
    }

    /** Runs the soak on {@code engine}, printing a line per round to {@code log}. */
    public static Report run(InferenceEngine engine, Options options, PrintStream log) throws InterruptedException {
        return new ProviderSoak(engine, options, log).run();
    }

    private Report run() throws InterruptedException {
        makePrompts();
        for (int[] p : prompts) { // the sequential reference, the engine otherwise idle
            reference.add(engine.generate(greedy(p), GenerationListener.NONE).tokens());
        }
        List<Round> rounds = new ArrayList<>();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(options.maxSeconds());
        ExecutorService clients = Executors.newFixedThreadPool(options.clients());
        try {
            for (int r = 0; r < options.rounds() && System.nanoTime() < deadline; r++) {
                Round round = round(r, clients, deadline);
                rounds.add(round);
                log.println(round);
            }
        } finally {
            clients.shutdownNow();
        }
        return new Report(List.copyOf(rounds), List.copyOf(failures));
    }

    /** Prompts of mixed lengths (3 tokens to half the context), random tokens of the vocabulary. */
    private void makePrompts() {
        SplittableRandom random = new SplittableRandom(19);
        int vocab = engine.tokenizer().vocabularySize();
        int longest = Math.max(4, Math.min(engine.contextLength() / 2, engine.contextLength() - options.maxTokens() - 1));
        for (int i = 0; i < PROMPTS; i++) {
            int length = Math.max(3, (int) (longest * Math.pow((i + 1.0) / PROMPTS, 2)));
            int[] p = new int[length];
            for (int k = 0; k < length; k++) {
                p[k] = 3 + random.nextInt(vocab - 3); // past the control tokens
            }
            prompts.add(p);
        }
    }

    /**
     * A prompt no other request has: each leaves a new KV cache to the prefix cache, so that a long soak shows
     * whether the prefix cache stays within its budget (it once grew to 512 MiB whatever -Xmx was).
     */
    private int[] freshPrompt(int id) {
        SplittableRandom random = new SplittableRandom(1_000_003L * id);
        int[] p = new int[prompts.get(id % PROMPTS).length];
        int vocab = engine.tokenizer().vocabularySize();
        for (int k = 0; k < p.length; k++) {
            p[k] = 3 + random.nextInt(vocab - 3);
        }
        return p;
    }

    private GenerationRequest greedy(int[] prompt) {
        return GenerationRequest.of(prompt, options.maxTokens(), SamplingParams.GREEDY);
    }

    private Round round(int index, ExecutorService clients, long deadline) throws InterruptedException {
        long t0 = System.nanoTime();
        AtomicInteger failed = new AtomicInteger();
        AtomicInteger cancelled = new AtomicInteger();
        AtomicInteger refused = new AtomicInteger();
        List<Future<?>> work = new ArrayList<>();
        for (int i = 0; i < options.requestsPerRound(); i++) {
            int id = index * options.requestsPerRound() + i;
            work.add(clients.submit(() -> request(id, failed, cancelled, refused)));
        }
        for (Future<?> f : work) {
            try {
                f.get(Math.max(1, TimeUnit.NANOSECONDS.toSeconds(deadline - System.nanoTime())) + 60, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
                failed.incrementAndGet();
                fail("round " + index + ": a client did not finish: " + e);
                f.cancel(true);
            }
        }
        EngineStats s = engine.stats();
        if (s.running() != 0 || s.runningKvCacheBytes() != 0) {
            fail("round " + index + ": after every request ended, " + s.running() + " sequences and "
                    + s.runningKvCacheBytes() + " bytes of KV cache are still counted as running");
        }
        System.gc();
        System.gc();
        return new Round(index, work.size(), failed.get(), cancelled.get(), refused.get(),
                ProcessMemory.heapUsedBytes(), ProcessMemory.rssBytes(), s.runningKvCacheBytes(),
                s.prefixCacheBytes(), (System.nanoTime() - t0) / 1e9);
    }

    /** One request of the mix; its kind follows from its id, so every run sends the same mix. */
    private void request(int id, AtomicInteger failed, AtomicInteger cancelled, AtomicInteger refused) {
        int p = id % PROMPTS;
        int kind = id % 10;
        try {
            if (kind < 6) {
                GenerationResult r = engine.generate(greedy(prompts.get(p)), GenerationListener.NONE);
                if (!Arrays.equals(reference.get(p), r.tokens())) {
                    failed.incrementAndGet();
                    fail("request " + id + ": greedy tokens of prompt " + p + " differ from the sequential run: "
                            + Arrays.toString(r.tokens()) + " vs " + Arrays.toString(reference.get(p)));
                }
            } else if (kind < 8) {
                GenerationResult r = engine.generate(greedy(freshPrompt(id)), new GenerationListener() {
                    int tokens;

                    @Override
                    public void onToken(int token) {
                        tokens++;
                    }

                    @Override
                    public boolean isCancelled() {
                        return tokens >= 2;
                    }
                });
                if (r.finishReason() == FinishReason.CANCELLED) {
                    cancelled.incrementAndGet();
                }
            } else if (kind == 8) {
                StringBuilder streamed = new StringBuilder();
                GenerationResult r = engine.generate(new GenerationRequest(freshPrompt(id), options.maxTokens(),
                        SamplingParams.DEFAULTS.withTemperature(0.9).withSeed((long) id), List.of(), null),
                        new GenerationListener() {
                            @Override
                            public void onText(String text) {
                                streamed.append(text);
                            }
                        });
                if (!streamed.toString().equals(r.text())) {
                    failed.incrementAndGet();
                    fail("request " + id + ": the streamed text differs from the result's");
                }
            } else {
                try {
                    engine.generate(GenerationRequest.of(prompts.get(p), Integer.MAX_VALUE, SamplingParams.GREEDY),
                            GenerationListener.NONE);
                    failed.incrementAndGet();
                    fail("request " + id + ": max tokens 2^31-1 was accepted");
                } catch (ContextLengthExceededException expected) {
                    refused.incrementAndGet();
                }
            }
        } catch (RuntimeException | Error e) {
            failed.incrementAndGet();
            fail("request " + id + " (kind " + kind + "): " + e);
        }
    }

    private void fail(String line) {
        if (failures.size() < 50) {
            failures.add(line);
        }
    }

    // ---- the program ----

    public static void main(String[] args) throws Exception {
        Path model = null;
        String shape = "tiny";
        String device = "cpu";
        int rounds = 20;
        int requests = 200;
        int clients = 16;
        int maxTokens = 24;
        double minutes = 5;
        long sampleSeconds = 0;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model" -> model = Path.of(args[++i]);
                case "--shape" -> shape = args[++i];
                case "--device" -> device = args[++i];
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--requests" -> requests = Integer.parseInt(args[++i]);
                case "--clients" -> clients = Integer.parseInt(args[++i]);
                case "--max-tokens" -> maxTokens = Integer.parseInt(args[++i]);
                case "--minutes" -> minutes = Double.parseDouble(args[++i]);
                case "--sample-seconds" -> sampleSeconds = Long.parseLong(args[++i]);
                default -> {
                    System.err.println("unknown argument " + args[i] + "; see the class comment of " + ProviderSoak.class);
                    System.exit(2);
                }
            }
        }
        if (model == null) {
            model = syntheticModel(shape);
        }
        Options o = new Options(rounds, requests, clients, maxTokens, (long) (minutes * 60), sampleSeconds);
        System.out.println("soak: " + model + " on " + device + ", " + o + ", heap limit "
                + (Runtime.getRuntime().maxMemory() >> 20) + " MB");
        ScheduledExecutorService sampler = null;
        try (InferenceEngine engine = InferenceEngine.load(model, EngineOptions.DEFAULTS.withDevice(device))) {
            System.out.println("loaded on " + engine.deviceDescription() + ", context " + engine.contextLength());
            if (sampleSeconds > 0) {
                sampler = MemorySampler.start(sampleSeconds, device, System.out);
            }
            Report report = run(engine, o, System.out);
            report.failures().forEach(f -> System.out.println("FAILURE " + f));
            System.out.println(report.ok() ? "soak passed: " + report.rounds().size() + " rounds"
                    : "soak FAILED: " + report.failures().size() + " failures");
            if (sampler != null) {
                sampler.shutdownNow();
                MemorySampler.sample(device, System.out, "end");
            }
            System.exit(report.ok() ? 0 : 1);
        }
    }

    /** A random-weight model written to the temporary directory (reused across runs). */
    static Path syntheticModel(String shape) {
        SyntheticModelSpec spec = switch (shape) {
            case "tiny" -> new SyntheticModelSpec("soak-tiny", Architecture.LLAMA, 128, 2, 256, 4, 2, 0, 512, 512,
                    QuantPreset.Q8_0, false, 7);
            case "small" -> SyntheticModelSpec.small(QuantPreset.Q8_0);
            case "3b" -> SyntheticModelSpec.llama32_3b(QuantPreset.Q4_K_M);
            default -> throw new IllegalArgumentException("--shape is tiny, small or 3b, not " + shape);
        };
        Path file = Path.of(System.getProperty("java.io.tmpdir"), "offload4j-soak-" + shape + ".gguf");
        if (!Files.isRegularFile(file)) {
            SyntheticModelWriter.write(spec, file);
        }
        return file;
    }
}

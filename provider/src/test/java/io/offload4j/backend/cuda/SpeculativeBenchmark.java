package io.offload4j.backend.cuda;

import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import io.offload4j.backend.Device;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.EngineStats;
import io.offload4j.engine.Generation;
import io.offload4j.engine.GenerationListener;
import io.offload4j.engine.GenerationRequest;
import io.offload4j.engine.GenerationResult;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.engine.SamplingParams;
import io.offload4j.engine.speculative.Drafter;
import io.offload4j.engine.speculative.DrafterFactory;
import io.offload4j.engine.speculative.SpeculativeCounters;
import io.offload4j.engine.speculative.SpeculativeOptions;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.Placement;
import io.offload4j.offload.PlacementPlan;
import io.offload4j.offload.TieredForwardPass;
import io.offload4j.offload.TieredPasses;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * Speculative decoding's two factors, measured apart (random-weight models agree with no drafter, so the acceptance
 * rate is set, not found):
 * <ol>
 *   <li><b>the cost of a verification pass</b>: {@code ForwardPass.forwardAll} of k tokens of one sequence
 *       (k = 1 is the plain decode step: the graph when resident, the hybrid route with CPU blocks) at each GPU
 *       budget, median of {@code --reps} passes, and its ratio to k = 1;</li>
 *   <li><b>end-to-end decode tokens/s</b> through the engine, greedy, one request of {@code --tokens} tokens: first
 *       without drafting (the baseline, same engine, same run), then with a drafter that proposes the model's own
 *       greedy continuation (known from the baseline) with each draft token replaced by another with probability
 *       1 − a, for each {@code --acceptance} a, k adaptive up to {@code --max-draft}, after one drafted run at a = 1
 *       that is not counted (compilation, the engine's pass costs), each drafted run right after a run without
 *       drafting ("none, again") whose speed is its speed-up's baseline. Every speculative run's tokens
 *       must equal the baseline's (printed as "identical"). The last column is the passes by k drafted (k = 0: plain
 *       decode steps), each with its mean time in the engine: which k the policy chose, and what it paid.</li>
 * </ol>
 * With {@code --lookup-prompt FILE} (a real model, {@code --model}), a third table runs prompt lookup on that text
 * against no drafting.
 *
 * <pre>
 * SpeculativeBenchmark [--device cuda|cpu] [--threads 0] [--dir DIR] [--shapes llama3-8b] [--quants F16]
 *                      [--model PATH] [--budgets 1,0.25] [--placement auto] [--gemm-min-tokens N]
 *                      [--ks 1,2,4,8,16] [--reps 5]
 *                      [--acceptance 0,0.7,1|none] [--max-draft 16] [--tokens 128] [--prompt 32]
 *                      [--lookup-prompt FILE] [--out report.md]
 * </pre>
 * Shapes are OffloadBenchmark's plus {@code tiny} (for a run on the CPU here). Budgets are fractions of the weights
 * (1: automatic); the CPU ignores them.
 */
public final class SpeculativeBenchmark {

    private SpeculativeBenchmark() {}

    public static void main(String[] args) throws IOException {
        Device device = Device.parse(arg(args, "--device", "cuda"));
        int threads = Integer.parseInt(arg(args, "--threads", "0"));
        Path dir = Path.of(arg(args, "--dir", "/tmp/offload4j-bench"));
        String modelArg = arg(args, "--model", null);
        List<String> shapes = List.of(arg(args, "--shapes", "llama3-8b").split(","));
        List<String> quants = List.of(arg(args, "--quants", "F16").split(","));
        double[] budgets = doubles(arg(args, "--budgets", "1,0.25"));
        String placement = arg(args, "--placement", "auto");
        // GPU steps of at least this many rows multiply on tensor cores (OffloadOptions.gemmMinTokens); above 64 every
        // step takes the matrix-vector kernels: what rounding the choice of kernels adds, told apart from the drafts
        String gemmMinTokens = arg(args, "--gemm-min-tokens", null);
        int[] ks = Arrays.stream(arg(args, "--ks", "1,2,4,8,16").split(",")).mapToInt(Integer::parseInt).toArray();
        int reps = Integer.parseInt(arg(args, "--reps", "5"));
        String acceptanceArg = arg(args, "--acceptance", "0,0.7,1");
        // "none": only the pass costs (part 1), no end-to-end runs
        double[] acceptance = acceptanceArg.equals("none") ? null : doubles(acceptanceArg);
        int maxDraft = Integer.parseInt(arg(args, "--max-draft", "16"));
        int tokens = Integer.parseInt(arg(args, "--tokens", "128"));
        int prompt = Integer.parseInt(arg(args, "--prompt", "32"));
        int[] concurrency = Arrays.stream(arg(args, "--concurrency", "1").split(",")).mapToInt(Integer::parseInt)
                .toArray();
        String lookupPrompt = arg(args, "--lookup-prompt", null);
        String out = arg(args, "--out", null);
        Files.createDirectories(dir);

        List<Path> files = new ArrayList<>();
        List<String> labels = new ArrayList<>();
        if (modelArg != null) {
            files.add(Path.of(modelArg));
            labels.add(Path.of(modelArg).getFileName().toString());
        } else {
            for (String shape : shapes) {
                for (String quant : quants) {
                    QuantPreset q = QuantPreset.parse(quant);
                    Path file = dir.resolve(shape + "-" + q + ".gguf");
                    if (!Files.exists(file)) {
                        long t0 = System.nanoTime();
                        SyntheticModelWriter.write(spec(shape, q), file);
                        System.out.printf("wrote %s in %.0f s%n", file, (System.nanoTime() - t0) / 1e9);
                    }
                    files.add(file);
                    labels.add(shape + " " + q);
                }
            }
        }
        int maxK = Math.max(Arrays.stream(ks).max().orElse(1), maxDraft + 1);
        int chunk = Math.max(64, maxK);
        int context = prompt + tokens + maxK + 64;

        line(out, "# Speculative decoding benchmark\n");
        StringBuilder head = new StringBuilder("| model | budget | resident / streamed / CPU units |");
        StringBuilder rule = new StringBuilder("|---|---|---|");
        for (int k : ks) {
            head.append(" ").append(k).append(k == 1 ? " row" : " rows").append(" ms (× 1 row) |");
            rule.append("---|");
        }
        List<String> passRows = new ArrayList<>();
        List<String> engineRows = new ArrayList<>();
        for (int i = 0; i < files.size(); i++) {
            try (Model model = Model.load(files.get(i))) {
                long total = OffloadBenchmark.weightBytes(model.weights());
                for (double f : budgets) {
                    long budget = f >= 1 ? OffloadOptions.AUTO : (long) (f * total);
                    OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(budget)
                            .withPlacement(placement);
                    if (gemmMinTokens != null) {
                        options = options.withGemmMinTokens(Integer.parseInt(gemmMinTokens));
                    }
                    String budgetLabel = f >= 1 ? "auto (all)" : String.format(Locale.ROOT, "%.0f %%", f * 100);
                    passRows.add(passCosts(device, threads, model, labels.get(i), budgetLabel, options, context, chunk,
                            prompt, ks, reps));
                    System.out.println(passRows.getLast());
                    for (int n : concurrency) {
                        if (acceptance != null) { // --acceptance none: part 1 alone
                            engineRows.addAll(endToEnd(device, threads, files.get(i), labels.get(i), budgetLabel,
                                    options, context, chunk, prompt, tokens, maxDraft, acceptance,
                                    model.config().vocabularySize(), n));
                        }
                    }
                    if (lookupPrompt != null) {
                        engineRows.add(promptLookup(device, threads, files.get(i), labels.get(i), budgetLabel, options,
                                context, chunk, tokens, maxDraft, Files.readString(Path.of(lookupPrompt))));
                    }
                }
            }
        }
        line(out, "## 1. Cost of a model pass of n rows (one sequence; a verification of k drafts has k + 1 rows)\n");
        line(out, head.toString());
        line(out, rule.toString());
        for (String r : passRows) {
            line(out, r);
        }
        line(out, "\n## 2. End-to-end greedy decode, drafts = the model's own greedy tokens, each kept with probability a"
                + " (k adaptive ≤ " + maxDraft + "); speed-up against the run without drafting right before\n");
        line(out, "| model | budget | requests at once | drafter | decode tok/s (all requests) | speed-up |"
                + " acceptance (accepted ÷ drafted) | tokens per target pass | identical to no drafting |"
                + " passes by k drafted: count × mean ms of their step |");
        line(out, "|---|---|---|---|---|---|---|---|---|---|");
        for (String r : engineRows) {
            line(out, r);
        }
    }

    /** Part 1: the median time of a forwardAll of k tokens at the same positions (rejected rows overwritten). */
    private static String passCosts(Device device, int threads, Model model, String label, String budget,
                                    OffloadOptions options, int context, int chunk, int prompt, int[] ks, int reps) {
        try (Backend backend = Backends.create(device, threads);
             ForwardPass pass = TieredPasses.prepare(backend, model, context, chunk, options)) {
            String units = "all (CPU)";
            if (pass instanceof TieredForwardPass tiered) {
                PlacementPlan plan = tiered.plan();
                System.out.println(pass.memoryReport());
                units = plan.count(Placement.RESIDENT) + " / " + plan.count(Placement.STREAMED) + " / "
                        + plan.count(Placement.CPU);
            }
            int vocab = model.config().vocabularySize();
            SplittableRandom rnd = new SplittableRandom(3);
            int[] tokens = rnd.ints(context, 3, vocab).toArray();
            int maxK = Arrays.stream(ks).max().orElse(1);
            float[][] rows = new float[maxK][vocab];
            StringBuilder row = new StringBuilder("| " + label + " | " + budget + " | " + units + " |");
            try (KvCache cache = pass.newKvCache(context)) {
                for (int at = 0; at < prompt; at += chunk) {
                    pass.forward(cache, tokens, at, Math.min(chunk, prompt - at), at, rows[0]);
                }
                double base = 0;
                for (int k : ks) {
                    double[] ms = new double[reps];
                    // warm-up: a graph's capture, and a hybrid plan's timing of both routes for k rows (HybridRoutes)
                    for (int w = 0; w <= TieredForwardPass.hybridRouteExplorationSteps(); w++) {
                        pass.forwardAll(cache, tokens, prompt, k, prompt, rows);
                    }
                    for (int r = 0; r < reps; r++) {
                        long t0 = System.nanoTime();
                        pass.forwardAll(cache, tokens, prompt, k, prompt, rows);
                        ms[r] = (System.nanoTime() - t0) / 1e6;
                    }
                    Arrays.sort(ms);
                    double median = ms[reps / 2];
                    if (k == ks[0]) {
                        base = median;
                    }
                    row.append(String.format(Locale.ROOT, " %.2f (%.2f×) |", median, median / base));
                }
            }
            if (pass instanceof TieredForwardPass tiered) {
                System.out.println("hybrid routes (" + label + ", " + budget + "): " + tiered.hybridRouteReport());
            }
            return row.toString();
        }
    }

    /**
     * Part 2: one engine; a baseline without drafts, then the oracle drafter at each acceptance; {@code requests}
     * requests at once (each its own prompt), whose drafts are verified in the step they share.
     */
    private static List<String> endToEnd(Device device, int threads, Path file, String label, String budget,
                                         OffloadOptions offload, int context, int chunk, int prompt, int tokens,
                                         int maxDraft, double[] acceptance, int vocab, int requests) {
        Oracle oracle = new Oracle(vocab);
        List<String> rows = new ArrayList<>();
        try (InferenceEngine engine = InferenceEngine.load(file, options(device, threads, context, chunk, offload,
                SpeculativeOptions.OFF.withDrafter(oracle).withMaxDraftTokens(Math.min(maxDraft, chunk - 1)),
                requests))) {
            List<GenerationRequest> all = new ArrayList<>();
            for (int r = 0; r < requests; r++) {
                int[] promptTokens = new SplittableRandom(5 + r).ints(prompt, 3, vocab).toArray();
                all.add(GenerationRequest.of(promptTokens, tokens, SamplingParams.GREEDY));
            }
            // the engine's own placement: the automatic one measures the CPU and the link at each load, so it may
            // differ from part 1's (session 21: 6/19/10 units there, the engine's steps cheaper)
            System.out.println("engine: " + engine.memoryReport());
            engine.generate(GenerationRequest.of(all.getFirst().promptTokens(), 8, SamplingParams.GREEDY),
                    GenerationListener.NONE);
            Run baseline = timed(engine, all);
            for (int r = 0; r < requests; r++) {
                oracle.reference(all.get(r).promptTokens(), baseline.tokens.get(r));
            }
            rows.add(row(label, budget, requests, "none", baseline, baseline));
            System.out.println(rows.getLast());
            // A drafted warm-up, not counted: the JVM compiles the multi-row code paths, and the engine measures what
            // steps of more rows cost, as a running service has done long before (on the H100 the first drafted run of
            // a 30B-shaped model had single passes of 0.7-1 s where repeated passes of as many rows took 0.24 s).
            oracle.keep(1);
            rows.add(row(label, budget, requests, "oracle a=1.00, warm-up (not counted)", timed(engine, all), baseline));
            System.out.println(rows.getLast());
            for (double a : acceptance) {
                // a baseline right before each drafted run: this machine's speed drifts (JIT, clocks, neighbours),
                // and a ratio against a run minutes earlier measured the drift as much as the drafting
                oracle.keep(-1);
                Run before = timed(engine, all);
                rows.add(row(label, budget, requests, "none, again", before, baseline));
                System.out.println(rows.getLast());
                oracle.keep(a);
                Run run = timed(engine, all);
                rows.add(row(label, budget, requests, String.format(Locale.ROOT, "oracle a=%.2f", a), run, baseline,
                        before));
                System.out.println(rows.getLast());
            }
        }
        return rows;
    }

    /** Part 3: prompt lookup on a text against no drafting (two engines on the same model). */
    private static String promptLookup(Device device, int threads, Path file, String label, String budget,
                                       OffloadOptions offload, int context, int chunk, int tokens, int maxDraft,
                                       String text) {
        Run baseline;
        int[] promptTokens;
        try (InferenceEngine plain = InferenceEngine.load(file, options(device, threads, context + 4096, chunk,
                offload, SpeculativeOptions.OFF, 1))) {
            promptTokens = plain.tokenizer().encode(text, true, true);
            baseline = timed(plain, List.of(GenerationRequest.of(promptTokens, tokens, SamplingParams.GREEDY)));
        }
        try (InferenceEngine lookup = InferenceEngine.load(file, options(device, threads, context + 4096, chunk,
                offload, SpeculativeOptions.promptLookupDefaults().withMaxDraftTokens(Math.min(maxDraft, chunk - 1)),
                1))) {
            Run run = timed(lookup, List.of(GenerationRequest.of(promptTokens, tokens, SamplingParams.GREEDY)));
            return row(label, budget, 1, "prompt lookup (" + promptTokens.length + "-token prompt)", run, baseline);
        }
    }

    private static EngineOptions options(Device device, int threads, int context, int chunk, OffloadOptions offload,
                                         SpeculativeOptions speculative, int sequences) {
        return EngineOptions.DEFAULTS.withDevice(device).withThreads(threads).withContextLength(context)
                .withContextBeyondTraining(true) // random weights: positions past training change nothing measured
                .withChunkTokens(chunk).withMaxSequences(sequences).withPrefixCacheBytes(0).withOffload(offload)
                .withSpeculative(speculative);
    }

    /** {@code passes}: the passes by drafts checked (k = 0: plain decode steps) with their mean time, as text. */
    private record Run(List<int[]> tokens, double tokensPerSecond, double acceptance, double tokensPerPass,
                       String passes) {}

    private static long[][] passCounts(SpeculativeCounters c) {
        long[][] n = new long[2][SpeculativeOptions.MAX_DRAFT_TOKENS + 1];
        for (int k = 0; k <= SpeculativeOptions.MAX_DRAFT_TOKENS; k++) {
            n[0][k] = c.passes(k);
            n[1][k] = c.passNanos(k);
        }
        return n;
    }

    /** "k=0: 120 × 95.1, k=4: 9 × 150.3": the k the policy chose, how often, and what those passes cost. */
    private static String passes(long[][] before, long[][] after) {
        StringBuilder b = new StringBuilder();
        for (int k = 0; k < before[0].length; k++) {
            long n = after[0][k] - before[0][k];
            if (n > 0) {
                b.append(b.isEmpty() ? "" : ", ").append(String.format(Locale.ROOT, "k=%d: %d × %.1f", k, n,
                        (after[1][k] - before[1][k]) / 1e6 / n));
            }
        }
        return b.toString();
    }

    /** Submits the requests together and waits for all; decode tokens/s over all of them (the steps they shared). */
    private static Run timed(InferenceEngine engine, List<GenerationRequest> requests) {
        EngineStats before = engine.stats();
        long[][] passesBefore = passCounts(engine.speculativeCounters());
        List<Generation> running = new ArrayList<>();
        for (GenerationRequest r : requests) {
            running.add(engine.submit(r, GenerationListener.NONE));
        }
        List<int[]> tokens = new ArrayList<>();
        long expectedDecode = 0;
        for (Generation g : running) {
            int[] t = g.join().tokens();
            tokens.add(t);
            expectedDecode += t.length - 1;
        }
        EngineStats after = engine.stats();
        // a step's counters are added just after the requests complete: wait for their tokens, and for their passes
        // (every decode token is an accepted draft or the one token of a target pass, counted last)
        for (long deadline = System.nanoTime() + 2_000_000_000L; (after.decodeTokens() - before.decodeTokens()
                < expectedDecode || after.decodeTokens() - before.decodeTokens()
                != after.acceptedDraftTokens() - before.acceptedDraftTokens() + after.targetPasses()
                - before.targetPasses()) && System.nanoTime() < deadline; after = engine.stats()) {
            Thread.onSpinWait();
        }
        String passes = passes(passesBefore, passCounts(engine.speculativeCounters()));
        long decodeTokens = after.decodeTokens() - before.decodeTokens();
        long nanos = after.decodeNanos() - before.decodeNanos();
        long drafted = after.draftedTokens() - before.draftedTokens();
        long accepted = after.acceptedDraftTokens() - before.acceptedDraftTokens();
        long targetPasses = after.targetPasses() - before.targetPasses();
        return new Run(tokens, decodeTokens * 1e9 / Math.max(1, nanos),
                drafted == 0 ? 0 : (double) accepted / drafted, targetPasses == 0 ? 0
                : (double) decodeTokens / targetPasses, passes);
    }

    private static String row(String label, String budget, int requests, String drafter, Run run, Run baseline) {
        return row(label, budget, requests, drafter, run, baseline, baseline);
    }

    /**
     * A table row: {@code run}'s tokens checked against {@code baseline}'s (the first run without drafting), its speed
     * against {@code before}'s (the run without drafting just before it).
     */
    private static String row(String label, String budget, int requests, String drafter, Run run, Run baseline,
                              Run before) {
        boolean identical = run.tokens().size() == baseline.tokens().size();
        for (int r = 0; identical && r < run.tokens().size(); r++) {
            identical = Arrays.equals(run.tokens().get(r), baseline.tokens().get(r));
        }
        return String.format(Locale.ROOT, "| %s | %s | %d | %s | %.2f | %.2f× | %.2f | %.2f | %s | %s |", label, budget,
                requests, drafter, run.tokensPerSecond(), run.tokensPerSecond() / before.tokensPerSecond(),
                run.acceptance(), run.tokensPerPass(), identical ? "yes" : "NO", run.passes());
    }

    /**
     * Drafts the model's known greedy continuation, each token kept with probability {@code keep} (else replaced by
     * another token), decided by a hash of its position so that a re-draft of the same position agrees; the request is
     * known by its first two prompt tokens (random prompts: distinct). Before
     * {@link #reference} (and with keep < 0) it drafts nothing: the engine then decodes as without a drafter.
     */
    private static final class Oracle implements Drafter, DrafterFactory {
        private final int vocab;
        private final List<int[]> fulls = new ArrayList<>();
        private double keep = -1;

        Oracle(int vocab) {
            this.vocab = vocab;
        }

        /** One request's prompt and greedy continuation (requests are told apart by their prompts). */
        void reference(int[] prompt, int[] continuation) {
            int[] full = Arrays.copyOf(prompt, prompt.length + continuation.length);
            System.arraycopy(continuation, 0, full, prompt.length, continuation.length);
            fulls.add(full);
        }

        void keep(double probability) {
            keep = probability;
        }

        @Override
        public int draft(int[] history, int length, int max, int[] out) {
            int[] full = null;
            for (int[] f : fulls) {
                if (length > 1 && length <= f.length && f[0] == history[0] && f[1] == history[1]) {
                    full = f;
                    break;
                }
            }
            if (keep < 0 || full == null || history[length - 1] != full[length - 1]) {
                return 0;
            }
            int n = Math.min(max, full.length - length);
            for (int i = 0; i < n; i++) {
                int pos = length + i;
                double u = (mix(pos) >>> 11) * 0x1.0p-53;
                out[i] = u < keep ? full[pos] : (full[pos] + 1 + (int) (mix(pos + 7919) >>> 40) % (vocab - 1)) % vocab;
            }
            return n;
        }

        private static long mix(long x) {
            long z = x * 0x9E3779B97F4A7C15L;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            return z ^ (z >>> 31);
        }

        @Override
        public Drafter open(int capacity) {
            return this;
        }

        @Override
        public void close() {}
    }

    static SyntheticModelSpec spec(String shape, QuantPreset q) {
        if (shape.equals("tiny")) {
            return SyntheticModelSpec.tiny(io.offload4j.model.Architecture.LLAMA, q);
        }
        return OffloadBenchmark.spec(shape, q);
    }

    private static double[] doubles(String csv) {
        return Arrays.stream(csv.split(",")).mapToDouble(Double::parseDouble).toArray();
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
}

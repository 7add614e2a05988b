package io.offload4j.backend.cuda;

import io.offload4j.offload.TieredForwardPass;
import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoD;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelWeights;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.OffloadStats;
import io.offload4j.offload.Placement;
import io.offload4j.offload.PlacementPlan;
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
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Offloading speed: one model, several GPU budgets, in one run, against the physical limit measured in the same run.
 *
 * <pre>
 * OffloadBenchmark [--dir DIR] [--shapes llama3-8b] [--quants F16] [--model PATH (a GGUF file or HF directory)]
 *                  [--zipf 0 (router skew of the mixture-of-experts shapes qwen3-30b-a3b, mixtral-8x7b)]
 *                  [--budgets 1,0.5,0.25,0.1 | --budget-gib 8] [--batches 1,4,16] [--prefill 512]
 *                  [--decode-seconds 6] [--depth 2] [--placements auto,stream,cpu] [--out report.md]
 *                  [--gemm-min-tokens 5 (tensor cores from this many rows)] [--graphs true]
 *                  [--profile-steps 0 (after each batch's timing, this many steps in a cuProfilerStart/Stop range)]
 * </pre>
 *
 * For each budget: the placement (resident / streamed units), GiB copied per step, prefill tokens/s of one
 * {@code --prefill}-token chunk (median of 3 after a warm-up), aggregate decode tokens/s at each batch size (each
 * sequence after a 16-token prompt, steps run for about {@code --decode-seconds}), and for batch 1: the copy
 * engine's achieved bandwidth (event-timed copies) and the step's effective bandwidth (bytes streamed per step ÷ step
 * time), both as a fraction of the pinned host → device bandwidth measured at the start of the same run.
 */
public final class OffloadBenchmark {

    private OffloadBenchmark() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(arg(args, "--dir", "/tmp/offload4j-bench"));
        String modelArg = arg(args, "--model", null);
        List<String> shapes = List.of(arg(args, "--shapes", "llama3-8b").split(","));
        zipf = Double.parseDouble(arg(args, "--zipf", "0"));
        gemmMinTokens = Integer.parseInt(arg(args, "--gemm-min-tokens", String.valueOf(gemmMinTokens)));
        graphs = Boolean.parseBoolean(arg(args, "--graphs", String.valueOf(graphs)));
        profileSteps = Integer.parseInt(arg(args, "--profile-steps", "0"));
        List<String> quants = List.of(arg(args, "--quants", "F16").split(","));
        String budgetGib = arg(args, "--budget-gib", null);
        double[] budgets = Arrays.stream(arg(args, "--budgets", "1,0.5,0.25,0.1").split(","))
                .mapToDouble(Double::parseDouble).toArray();
        int[] batches = Arrays.stream(arg(args, "--batches", "1,4,16").split(",")).mapToInt(Integer::parseInt)
                .toArray();
        int prefill = Integer.parseInt(arg(args, "--prefill", "512"));
        double decodeSeconds = Double.parseDouble(arg(args, "--decode-seconds", "6"));
        int depth = Integer.parseInt(arg(args, "--depth", "2"));
        List<String> placements = List.of(arg(args, "--placements", "auto").split(","));
        String outFile = arg(args, "--out", null);
        Files.createDirectories(dir);
        try (CudaBackend gpu = new CudaBackend(0)) {
            double pinned = pinnedBandwidth();
            line(outFile, String.format(Locale.ROOT, "# Offloading benchmark%n%n%s; pinned host→device measured now:"
                    + " %.1f GB/s%n", gpu.description(), pinned));
            StringBuilder header = new StringBuilder("| model | budget | placement | resident / streamed / CPU units |"
                    + " GiB streamed per decode step | prefill " + prefill + " tok/s |");
            StringBuilder rule = new StringBuilder("|---|---|---|---|---|---|");
            for (int b : batches) {
                header.append(" decode b").append(b).append(" tok/s |");
                rule.append("---|");
            }
            header.append(" copy GB/s (÷ pinned) | b1 effective GB/s (÷ pinned) | b1 ms/step: CPU blocks, CPU waiting |");
            rule.append("---|---|---|");
            line(outFile, header.toString());
            line(outFile, rule.toString());
            List<Path> files = new ArrayList<>();
            List<String> labels = new ArrayList<>();
            if (modelArg != null) {
                files.add(Path.of(modelArg));
                labels.add(Path.of(modelArg).getFileName().toString());
            } else {
                for (String shape : shapes) {
                    for (String quant : quants) {
                        QuantPreset q = QuantPreset.parse(quant);
                        Path file = dir.resolve(shape + "-" + q + (shape.contains("-a3b") || shape.startsWith("mixtral")
                                ? "-zipf" + zipf : "") + ".gguf");
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
            for (int i = 0; i < files.size(); i++) {
                try (Model model = Model.load(files.get(i))) {
                    long total = weightBytes(model.weights());
                    List<Long> budgetBytes = new ArrayList<>();
                    if (budgetGib != null) {
                        budgetBytes.add((long) (Double.parseDouble(budgetGib) * (1L << 30)));
                    } else {
                        for (double f : budgets) {
                            budgetBytes.add(f >= 1 ? OffloadOptions.AUTO : (long) (f * total));
                        }
                    }
                    for (long budget : budgetBytes) {
                        for (String placement : placements) {
                            if (budget == OffloadOptions.AUTO && !placement.equals(placements.getFirst())) {
                                continue; // everything resident: the placement policy does not matter
                            }
                            run(gpu, model, labels.get(i), total, budget, depth, placement, prefill, batches,
                                    decodeSeconds, pinned, outFile);
                        }
                    }
                }
            }
        }
    }

    /** Router skew of the mixture-of-experts shapes ({@code --zipf}). */
    private static double zipf;
    /** --gemm-min-tokens / --graphs: the tensor-core threshold and graph replay (OffloadOptions defaults if absent). */
    private static int gemmMinTokens = OffloadOptions.DEFAULTS.gemmMinTokens();
    private static boolean graphs = OffloadOptions.DEFAULTS.graphs();
    /** Decode steps of each batch size run between cuProfilerStart and cuProfilerStop (ncu/nsys capture range). */
    private static int profileSteps;

    static SyntheticModelSpec spec(String shape, QuantPreset q) {
        return switch (shape) {
            case "qwen3-30b-a3b" -> SyntheticModelSpec.qwen3_30b_a3b(q, zipf);
            case "mixtral-8x7b" -> SyntheticModelSpec.mixtral_8x7b(q, zipf);
            case "small" -> SyntheticModelSpec.small(q);
            case "llama32-3b" -> SyntheticModelSpec.llama32_3b(q);
            case "llama3-8b" -> SyntheticModelSpec.llama3_8b(q);
            case "llama-30b" -> SyntheticModelSpec.llama_30b(q);
            default -> throw new IllegalArgumentException("unknown shape " + shape);
        };
    }

    static long weightBytes(ModelWeights w) {
        long n = w.output().byteSize();
        for (BlockWeights b : w.blocks()) {
            n += b.matrixBytes(); // a sparse block: attention, router, shared expert and every expert
        }
        return n;
    }

    /**
     * {@code profileSteps} more decode steps of this batch inside the profiler's capture range (run under
     * {@code ncu --profile-from-start off} or {@code nsys --capture-range=cudaProfilerApi}), each timed on the host, so
     * the kernels' sum can be set against the wall time of the same steps.
     */
    private static void profiledSteps(TieredForwardPass pass, KvCache[] caches, int[] next, int[] positions, int batch,
                                      float[][] out, int context) {
        long[] nanos = new long[profileSteps];
        int steps = 0;
        jcuda.driver.JCudaDriver.cuProfilerStart();
        for (; steps < profileSteps && positions[0] < context - 1; steps++) {
            long s = System.nanoTime();
            pass.forwardBatch(caches, next, positions, batch, out);
            nanos[steps] = System.nanoTime() - s;
            for (int b = 0; b < batch; b++) {
                positions[b]++;
            }
        }
        jcuda.driver.JCudaDriver.cuProfilerStop();
        StringBuilder ms = new StringBuilder();
        for (int i = 0; i < steps; i++) {
            ms.append(String.format(Locale.ROOT, " %.3f", nanos[i] / 1e6));
        }
        System.out.printf("profiled b%d: %d steps, ms each:%s%n", batch, steps, ms);
    }

    private static void run(CudaBackend gpu, Model model, String label, long total, long budget, int depth,
                            String placement, int prefill, int[] batches, double decodeSeconds, double pinned, String outFile)
            throws IOException {
        int maxBatch = Arrays.stream(batches).max().orElse(1);
        int context = prefill + 64;
        OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(budget).withPrefetchDepth(depth)
                .withPlacement(placement).withGemmMinTokens(gemmMinTokens).withGraphs(graphs);
        long t0 = System.nanoTime();
        try (TieredForwardPass pass = Passes.on(gpu, model, context, prefill, options)) {
            double load = (System.nanoTime() - t0) / 1e9;
            TieredForwardPass cp = pass;
            PlacementPlan plan = cp.plan();
            System.out.println(pass.memoryReport());
            System.out.printf("prepared in %.1f s: %s%n", load, plan.reasoning());
            int vocab = model.config().vocabularySize();
            SplittableRandom rnd = new SplittableRandom(1);
            int[] tokens = new int[context];
            for (int i = 0; i < tokens.length; i++) {
                tokens[i] = 3 + rnd.nextInt(vocab - 3);
            }
            float[] logits = new float[vocab];
            double prefillTps;
            try (KvCache cache = pass.newKvCache(context)) {
                pass.forward(cache, tokens, 0, prefill, 0, logits);
                double[] times = new double[3];
                for (int i = 0; i < times.length; i++) {
                    long s = System.nanoTime();
                    pass.forward(cache, tokens, 0, prefill, 0, logits);
                    times[i] = (System.nanoTime() - s) / 1e9;
                }
                Arrays.sort(times);
                prefillTps = prefill / times[1];
            }
            double[] decode = new double[batches.length];
            double copyGbs = 0;
            double effectiveGbs = 0;
            double cpuMs = 0;
            double cpuWaitMs = 0;
            for (int bi = 0; bi < batches.length; bi++) {
                int batch = batches[bi];
                KvCache[] caches = new KvCache[batch];
                float[][] out = new float[batch][vocab];
                int[] positions = new int[batch];
                int[] next = new int[batch];
                try {
                    for (int b = 0; b < batch; b++) {
                        caches[b] = pass.newKvCache(context);
                        pass.forward(caches[b], tokens, b, 16, 0, out[b]);
                        positions[b] = 16;
                        next[b] = tokens[16 + b];
                    }
                    pass.forwardBatch(caches, next, positions, batch, out); // warm-up
                    for (int b = 0; b < batch; b++) {
                        positions[b]++;
                    }
                    OffloadStats before = pass.offloadStats();
                    long s = System.nanoTime();
                    int steps = 0;
                    while (steps < 3 || (System.nanoTime() - s) / 1e9 < decodeSeconds) {
                        pass.forwardBatch(caches, next, positions, batch, out);
                        for (int b = 0; b < batch; b++) {
                            positions[b]++;
                        }
                        steps++;
                        if (positions[0] >= context - 1) {
                            break;
                        }
                    }
                    double seconds = (System.nanoTime() - s) / 1e9;
                    decode[bi] = steps * batch / seconds;
                    if (profileSteps > 0) {
                        profiledSteps(pass, caches, next, positions, batch, out, context);
                    }
                    if (bi == 0) {
                        OffloadStats after = pass.offloadStats();
                        long bytes = after.bytesStreamed() - before.bytesStreamed();
                        long nanos = after.copyNanos() - before.copyNanos();
                        copyGbs = nanos == 0 ? 0 : bytes / (double) nanos;
                        effectiveGbs = bytes / seconds / 1e9;
                        cpuMs = (after.cpuNanos() - before.cpuNanos()) / 1e6 / steps;
                        cpuWaitMs = (after.cpuWaitNanos() - before.cpuWaitNanos()) / 1e6 / steps;
                    }
                } finally {
                    for (KvCache c : caches) {
                        if (c != null) {
                            c.close();
                        }
                    }
                }
            }
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %s | %s | %d / %d / %d | %.2f |"
                    + " %.0f |", label, budget == OffloadOptions.AUTO ? "all (auto)" : String.format(Locale.ROOT,
                            "%.2f GiB (%.0f%%)", budget / (double) (1L << 30), 100.0 * budget / total), placement,
                    plan.count(Placement.RESIDENT), plan.count(Placement.STREAMED), plan.count(Placement.CPU),
                    plan.streamedBytesPerStep() / (double) (1L << 30), prefillTps));
            for (double d : decode) {
                row.append(String.format(Locale.ROOT, " %.1f |", d));
            }
            row.append(plan.count(Placement.STREAMED) == 0 || copyGbs == 0 ? " – | – |" : String.format(Locale.ROOT,
                    " %.1f (%.2f) | %.1f (%.2f) |", copyGbs, copyGbs / pinned, effectiveGbs, effectiveGbs / pinned));
            row.append(plan.count(Placement.CPU) == 0 ? " – |" : String.format(Locale.ROOT, " %.1f, %.1f |", cpuMs,
                    cpuWaitMs));
            line(outFile, row.toString());
        }
    }

    /** Pinned host → device bandwidth: 1 GiB copied 3 times after a warm-up, GB/s. */
    static double pinnedBandwidth() {
        long bytes = 1L << 30;
        Pointer host = new Pointer();
        CUdeviceptr dev = new CUdeviceptr();
        cuMemHostAlloc(host, bytes, 0);
        cuMemAlloc(dev, bytes);
        try {
            cuMemcpyHtoD(dev, host, bytes);
            long s = System.nanoTime();
            for (int i = 0; i < 3; i++) {
                cuMemcpyHtoD(dev, host, bytes);
            }
            return 3.0 * bytes / (System.nanoTime() - s);
        } finally {
            cuMemFree(dev);
            cuMemFreeHost(host);
        }
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

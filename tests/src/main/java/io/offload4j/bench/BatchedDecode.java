package io.offload4j.bench;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.bench.CpuBenchmark.Options;
import io.offload4j.bench.CpuBenchmark.Stat;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Batched decode on the CPU ({@code CpuBenchmark --batch 1,4,8}): for each batch size B, B sequences start from
 * one random token each in their own KV caches and decode {@code -n} greedy steps together, one
 * {@link ForwardPass#forwardBatch} call per step, as the engine's scheduler runs them. Reports aggregate
 * tokens/s (B × steps / time) and its ratio to batch 1: how much reading each weight once per step for the
 * whole batch buys. Batch sizes alternate within each repetition, so all see the same machine.
 */
final class BatchedDecode {

    private BatchedDecode() {}

    static void run(Options o) throws Exception {
        Map<String, Path> files = new LinkedHashMap<>();
        if (o.model != null) {
            files.put(o.model.getFileName().toString(), o.model);
        } else {
            for (String q : o.quants) {
                files.put(QuantPreset.parse(q).name(),
                        CpuBenchmark.cachedModel(CpuBenchmark.spec(o.shape, QuantPreset.parse(q)), o.cacheDir));
            }
        }
        StringBuilder table = new StringBuilder();
        table.append(String.format(Locale.ROOT, "Batched decode: B sequences × %d greedy steps from one token each,"
                + " one forwardBatch per step; aggregate tokens/s = B × %d / time, median (best) of %d runs, %d"
                + " threads.%n%n", o.gen, o.gen, o.reps, o.threads));
        table.append("| model | batch | aggregate tok/s | per sequence tok/s | aggregate vs batch 1 |\n");
        table.append("|---|---:|---:|---:|---:|\n");
        for (Map.Entry<String, Path> e : files.entrySet()) {
            List<Stat> stats = measure(o, e.getValue());
            double base = o.batches.contains(1) ? stats.get(o.batches.indexOf(1)).median() : Double.NaN;
            for (int i = 0; i < o.batches.size(); i++) {
                int batch = o.batches.get(i);
                Stat s = stats.get(i);
                table.append(String.format(Locale.ROOT, "| %s | %d | %s | %.1f | %s |%n", e.getKey(), batch, s.format(),
                        s.median() / batch, Double.isNaN(base) ? "n/a" : String.format(Locale.ROOT, "%.2f×",
                                s.median() / base)));
            }
        }
        table.append("\nLoad average (1, 5, 15 min) at the end: ").append(CpuBenchmark.loadAverage()).append('\n');
        System.out.println();
        System.out.println(table);
    }

    /** Aggregate tokens/s per batch size of {@code o.batches}, in that order. */
    private static List<Stat> measure(Options o, Path file) throws InterruptedException {
        try (Model model = Model.load(file); CpuBackend backend = new CpuBackend(o.threads);
             ForwardPass pass = backend.prepare(model, o.gen + 1, o.chunk)) {
            System.err.printf(Locale.ROOT, "[batch] %s: %s, warm-up%n", file.getFileName(), backend.description());
            for (int batch : o.batches) {
                steps(pass, batch, Math.min(o.gen, 16));
            }
            List<Stat> stats = new ArrayList<>();
            for (int i = 0; i < o.batches.size(); i++) {
                stats.add(Stat.NONE);
            }
            for (int r = 0; r < o.reps; r++) {
                for (int i = 0; i < o.batches.size(); i++) {
                    int batch = o.batches.get(i);
                    CpuBenchmark.quiet(o);
                    double tps = steps(pass, batch, o.gen);
                    System.err.printf(Locale.ROOT, "[batch] B=%d rep %d: %.2f tok/s aggregate%n", batch, r, tps);
                    stats.set(i, stats.get(i).plus(tps));
                }
            }
            return stats;
        }
    }

    /** {@code steps} batched greedy decode steps of {@code batch} fresh sequences: aggregate tokens/s. */
    private static double steps(ForwardPass pass, int batch, int steps) {
        int vocab = pass.config().vocabularySize();
        KvCache[] caches = new KvCache[batch];
        int[] tokens = new int[batch];
        int[] positions = new int[batch];
        float[][] logits = new float[batch][vocab];
        SplittableRandom random = new SplittableRandom(batch);
        try {
            for (int b = 0; b < batch; b++) {
                caches[b] = pass.newKvCache(steps);
                tokens[b] = 259 + random.nextInt(vocab - 259); // past the control and byte tokens
            }
            long t0 = System.nanoTime();
            for (int s = 0; s < steps; s++) {
                pass.forwardBatch(caches, tokens, positions, batch, logits);
                for (int b = 0; b < batch; b++) {
                    tokens[b] = argmax(logits[b]);
                    positions[b]++;
                }
            }
            return (double) batch * steps / ((System.nanoTime() - t0) / 1e9);
        } finally {
            for (KvCache c : caches) {
                if (c != null) {
                    c.close();
                }
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
}

package io.offload4j.offload;

import io.offload4j.backend.KvCache;
import io.offload4j.backend.MoeRoutingCounts;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.backend.ForwardPass;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.model.SyntheticMoe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * How close the expert cache's policy comes to Belady's optimum as a function of the trace's length: a
 * Qwen3-30B-A3B-routed model (48 blocks, 128 experts, 8 active, Zipf-popular routers) with tiny matrices, decoded on
 * the CPU for {@code --tokens} tokens after a 16-token prompt; the decode trace is replayed (equal-sized experts) at
 * the given fractions of all experts cached, cold, and with its first half as warm-up (hit rates of the second half
 * only). A program, not a test: {@code ExpertTraceStudy [--tokens 512] [--zipf 1.0] [--fractions 0.16,0.39]}.
 */
public final class ExpertTraceStudy {

    private ExpertTraceStudy() {}

    public static void main(String[] args) throws Exception {
        int tokens = Integer.parseInt(arg(args, "--tokens", "512"));
        double zipf = Double.parseDouble(arg(args, "--zipf", "1.0"));
        double[] fractions = Arrays.stream(arg(args, "--fractions", "0.16,0.39").split(","))
                .mapToDouble(Double::parseDouble).toArray();
        Path file = Path.of(System.getProperty("java.io.tmpdir"), "expert-trace-study-zipf" + zipf + ".gguf");
        if (!Files.exists(file)) {
            SyntheticModelWriter.write(new SyntheticModelSpec("synthetic-qwen3-moe-routing", Architecture.QWEN3MOE,
                    256, 48, 512, 4, 2, 64, 2000, 4096, QuantPreset.parse("F16"), false, 303,
                    new SyntheticMoe(128, 8, 64, 0, true, zipf)), file);
        }
        try (Model model = Model.load(file); CpuBackend cpu = new CpuBackend(2);
             ForwardPass pass = cpu.prepare(model, tokens + 32, 16)) {
            int blocks = model.config().blockCount();
            int experts = model.config().moe().expertCount();
            int k = model.config().moe().expertUsedCount();
            MoeRoutingCounts counts = new MoeRoutingCounts(blocks, experts, tokens * blocks * k);
            SplittableRandom rnd = new SplittableRandom(1);
            int[] ids = rnd.ints(tokens + 32, 3, model.config().vocabularySize()).toArray();
            float[] logits = new float[model.config().vocabularySize()];
            try (KvCache cache = pass.newKvCache(tokens + 32)) {
                pass.forward(cache, ids, 0, 16, 0, logits);
                pass.routingListener(counts);
                for (int p = 16; p < 16 + tokens; p++) {
                    pass.forward(cache, ids, p, 1, p, logits);
                }
            }
            int[] trace = counts.trace();
            long[] bytes = new long[blocks * experts];
            Arrays.fill(bytes, 1L << 20);
            int half = trace.length / 2 / (blocks * k) * (blocks * k);
            System.out.printf(Locale.ROOT, "%d decode tokens, Zipf %.2f, %d accesses%n", tokens, zipf, trace.length);
            System.out.println("| cached | cold: Belady / W-TinyLFU / LRU | second half after the first: Belady /"
                    + " W-TinyLFU / LRU / the first half's most frequent, fixed / hot set (3/4, recomputed every 64"
                    + " tokens) + W-TinyLFU / the second half's own most frequent, fixed (in hindsight: the bound of"
                    + " any online policy where routing does not depend on the past) |");
            System.out.println("|---|---|---|");
            for (double f : fractions) {
                long capacity = (long) (f * blocks * experts) << 20;
                ExpertCacheReplay all = new ExpertCacheReplay(trace, experts, bytes);
                ExpertCacheReplay.Result[] cold = {all.belady(capacity), all.caffeine(capacity), all.lru(capacity)};
                double[] warm = new double[3];
                for (int i = 0; i < 3; i++) {
                    ExpertCacheReplay.Result r = i == 0 ? all.belady(capacity) : i == 1 ? all.caffeine(capacity)
                            : all.lru(capacity);
                    warm[i] = secondHalf(r, trace, half, experts, capacity, i);
                }
                int slots = (int) (f * blocks * experts);
                System.out.printf(Locale.ROOT, "| %.0f %% | %.3f / %.3f / %.3f | %.3f / %.3f / %.3f / %.3f / %.3f / %.3f |%n",
                        100 * f, cold[0].hitRate(), cold[1].hitRate(), cold[2].hitRate(), warm[0], warm[1], warm[2],
                        staticTop(trace, 0, half, half, slots), hotSetPlusCaffeine(trace, half, slots, blocks * k * 64),
                        staticTop(trace, half, trace.length, half, slots));
                int perToken = blocks * k;
                // A change of topic: from the second half on, each block's experts swap popularity (a fixed random
                // permutation per block), so what the first half made frequent is now mostly cold.
                int[] shifted = shifted(trace, half, experts);
                ExpertCacheReplay shiftedAll = new ExpertCacheReplay(shifted, experts, bytes);
                System.out.printf(Locale.ROOT, "  topic shift at half: Belady %.3f, W-TinyLFU %.3f, LRU %.3f, ageing LFU"
                        + " 16 / 64 / 256 tokens %.3f / %.3f / %.3f, bound %.3f%n",
                        secondHalf(shiftedAll.belady(capacity), shifted, half, experts, capacity, 0),
                        secondHalf(shiftedAll.caffeine(capacity), shifted, half, experts, capacity, 1),
                        secondHalf(shiftedAll.lru(capacity), shifted, half, experts, capacity, 2),
                        lfuAging(shifted, half, slots, 16.0 * perToken), lfuAging(shifted, half, slots, 64.0 * perToken),
                        lfuAging(shifted, half, slots, 256.0 * perToken), staticTop(shifted, half, shifted.length, half, slots));
                System.out.printf(Locale.ROOT, "  ageing LFU, half-life in tokens 16 / 64 / 256 / none: %.3f / %.3f / %.3f / %.3f%n",
                        lfuAging(trace, half, slots, 16.0 * perToken), lfuAging(trace, half, slots, 64.0 * perToken),
                        lfuAging(trace, half, slots, 256.0 * perToken), lfuAging(trace, half, slots, Double.POSITIVE_INFINITY));
            }
        }
    }

    /**
     * Hit rate over the trace's second half: hits of the whole replay minus those of the first half alone. Exact for
     * the online policies (their first half is the same either way); for Belady a lower bound (alone, the first half
     * is replayed optimally for itself, so the whole replay's first half hits at most as often).
     */
    private static double secondHalf(ExpertCacheReplay.Result whole, int[] trace, int half, int experts, long capacity,
                                     int policy) {
        long[] bytes = new long[whole.hits().length * experts];
        Arrays.fill(bytes, 1L << 20);
        ExpertCacheReplay first = new ExpertCacheReplay(Arrays.copyOf(trace, half), experts, bytes);
        ExpertCacheReplay.Result r = policy == 0 ? first.belady(capacity) : policy == 1 ? first.caffeine(capacity)
                : first.lru(capacity);
        long hits = Arrays.stream(whole.hits()).sum() - Arrays.stream(r.hits()).sum();
        return hits / (double) (trace.length - half);
    }

    /**
     * The {@code slots} experts most used in {@code [from, to)} of the trace, kept fixed: their share of the uses from
     * {@code half} on (the second half). Counted over the second half itself, this is what the best fixed set would have hit in hindsight:
     * where each token's routing is drawn independently of the past (a fixed popularity, as in these synthetic
     * routers), no online policy's expected hit rate exceeds the most probable experts' share, whatever it evicts.
     */
    private static double staticTop(int[] trace, int from, int to, int half, int slots) {
        int max = Arrays.stream(trace).max().orElse(0) + 1;
        long[] count = new long[max];
        for (int i = from; i < to; i++) {
            count[trace[i]]++;
        }
        Integer[] order = new Integer[max];
        for (int i = 0; i < max; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Long.compare(count[b], count[a]));
        boolean[] kept = new boolean[max];
        for (int i = 0; i < Math.min(slots, max); i++) {
            kept[order[i]] = true;
        }
        long hits = 0;
        for (int i = half; i < trace.length; i++) {
            hits += kept[trace[i]] ? 1 : 0;
        }
        return hits / (double) (trace.length - half);
    }

    /**
     * A hot set of three quarters of the slots, recomputed every {@code period} accesses as the most used experts by
     * decayed counts (halved at each recomputation), beside a W-TinyLFU cache of the other quarter for everything
     * else (an expert joining the hot set is on the GPU if the other cache held it, else from its next use); hit rate
     * over the second half.
     */
    private static double hotSetPlusCaffeine(int[] trace, int half, int slots, int period) {
        int max = Arrays.stream(trace).max().orElse(0) + 1;
        int hotSlots = slots * 3 / 4;
        double[] count = new double[max];
        boolean[] hot = new boolean[max];
        boolean[] loaded = new boolean[max]; // a hot expert is on the GPU once copied (its first use after joining)
        com.github.benmanes.caffeine.cache.Cache<Integer, Boolean> rest =
                com.github.benmanes.caffeine.cache.Caffeine.newBuilder().maximumSize(Math.max(1, slots - hotSlots))
                        .executor(Runnable::run).build();
        Integer[] order = new Integer[max];
        long hits = 0;
        for (int i = 0; i < trace.length; i++) {
            int id = trace[i];
            count[id]++;
            boolean hit;
            if (hot[id]) {
                hit = loaded[id];
                loaded[id] = true;
            } else {
                hit = rest.getIfPresent(id) != null;
                if (!hit) {
                    rest.put(id, Boolean.TRUE);
                    rest.cleanUp();
                }
            }
            if (i >= half && hit) {
                hits++;
            }
            if ((i + 1) % period == 0) {
                for (int e = 0; e < max; e++) {
                    order[e] = e;
                }
                Arrays.sort(order, (a, b) -> Double.compare(count[b], count[a]));
                boolean[] was = hot.clone();
                Arrays.fill(hot, false);
                for (int e = 0; e < hotSlots; e++) {
                    int x = order[e];
                    hot[x] = true;
                    loaded[x] = (was[x] && loaded[x]) || rest.getIfPresent(x) != null;
                    rest.invalidate(x);
                }
                for (int e = 0; e < max; e++) {
                    count[e] *= 0.5;
                }
            }
        }
        return hits / (double) (trace.length - half);
    }

    /**
     * Frequency-ranked caching with ageing: every expert's use count decays with a half-life of {@code halfLife}
     * accesses; a missed expert is admitted when the cache has room or when its count beats the least counted cached
     * expert's (which it then evicts). Hit rate over the second half.
     */
    static double lfuAging(int[] trace, int half, int slots, double halfLife) {
        int max = Arrays.stream(trace).max().orElse(0) + 1;
        double[] count = new double[max];
        boolean[] cached = new boolean[max];
        int[] members = new int[slots];
        int size = 0;
        double inc = 1;
        double growth = Double.isInfinite(halfLife) ? 1 : Math.pow(2, 1 / halfLife);
        long hits = 0;
        for (int i = 0; i < trace.length; i++) {
            int id = trace[i];
            inc *= growth;
            if (inc > 1e200) { // renormalise: the same ratios, smaller numbers
                for (int e = 0; e < max; e++) {
                    count[e] /= inc;
                }
                inc = 1;
            }
            count[id] += inc;
            if (cached[id]) {
                if (i >= half) {
                    hits++;
                }
                continue;
            }
            if (size < slots) {
                cached[id] = true;
                members[size++] = id;
                continue;
            }
            int victim = 0;
            for (int m = 1; m < size; m++) {
                if (count[members[m]] < count[members[victim]]) {
                    victim = m;
                }
            }
            if (count[id] > count[members[victim]]) {
                cached[members[victim]] = false;
                cached[id] = true;
                members[victim] = id;
            }
        }
        return hits / (double) (trace.length - half);
    }

    /** The trace with every id from {@code half} on mapped through a fixed random permutation of its block's experts. */
    private static int[] shifted(int[] trace, int half, int experts) {
        int[] out = trace.clone();
        int max = Arrays.stream(trace).max().orElse(0) + 1;
        int[] map = new int[max];
        SplittableRandom rnd = new SplittableRandom(42);
        for (int b = 0; b * experts < max; b++) {
            int[] perm = new int[experts];
            for (int e = 0; e < experts; e++) {
                perm[e] = e;
            }
            for (int e = experts - 1; e > 0; e--) {
                int j = rnd.nextInt(e + 1);
                int t = perm[e];
                perm[e] = perm[j];
                perm[j] = t;
            }
            for (int e = 0; e < experts && b * experts + e < max; e++) {
                map[b * experts + e] = b * experts + perm[e];
            }
        }
        for (int i = half; i < out.length; i++) {
            out[i] = map[out[i]];
        }
        return out;
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

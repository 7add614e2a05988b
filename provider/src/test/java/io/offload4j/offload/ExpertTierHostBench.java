package io.offload4j.offload;

import io.offload4j.backend.AcceleratorModel;
import io.offload4j.backend.CopyRing;
import io.offload4j.backend.DeviceWeights;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.Phase;
import io.offload4j.backend.Step;
import java.lang.reflect.Proxy;
import java.util.Random;

/**
 * The host's part of the expert tier alone, without a device: {@link ExpertTier#run} over a Qwen3-30B-A3B-like
 * routing (48 blocks, 128 experts, 8 active, Zipf-1.0 popularity per block) against a device whose calls do nothing,
 * so what it prints is the placing's own cost per sparse block (lookups, Caffeine, slot bookkeeping, prefetch), at
 * decode (1 row) and for 512-row prompt chunks, and the decode steps' hit rate. A benchmark, not a test: run with the
 * test classpath, {@code java ... io.offload4j.offload.ExpertTierHostBench [slots] [cachedSlotsDuringChunks]
 * [cachedSlotsDuringDecode]} (the defaults: the pool of a 4 GiB budget on the lent H100, 1134 slots, 993 cached
 * while a chunk runs, all but 16 during decode; give the third the second's value for a cache of one size).
 */
public final class ExpertTierHostBench {

    public static void main(String[] args) {
        int blocks = 48;
        int experts = 128;
        int k = 8;
        int slots = args.length > 0 ? Integer.parseInt(args[0]) : 1134;
        int chunkCached = args.length > 1 ? Integer.parseInt(args[1]) : slots - 141;
        int cached = args.length > 2 ? Integer.parseInt(args[2]) : slots - 2 * k;
        int rows = 512;
        double[] cdf = new double[experts];
        double sum = 0;
        for (int e = 0; e < experts; e++) {
            sum += 1.0 / (e + 1);
            cdf[e] = sum;
        }
        for (int e = 0; e < experts; e++) {
            cdf[e] /= sum;
        }
        Random random = new Random(1);
        int[][] perm = new int[blocks][experts];
        for (int b = 0; b < blocks; b++) {
            for (int e = 0; e < experts; e++) {
                perm[b][e] = e;
            }
            for (int e = experts - 1; e > 0; e--) {
                int j = random.nextInt(e + 1);
                int t = perm[b][e];
                perm[b][e] = perm[b][j];
                perm[b][j] = t;
            }
        }
        int[] route = new int[rows * k];
        int[] block = new int[1];
        int[] fill = new int[1];
        Runnable reroute = () -> {
            for (int r = 0; r < fill[0]; r++) {
                for (int j = 0; j < k; j++) {
                    int e;
                    boolean dup;
                    do {
                        double u = random.nextDouble();
                        int lo = 0;
                        while (cdf[lo] < u) {
                            lo++;
                        }
                        e = perm[block[0] % blocks][lo];
                        dup = false;
                        for (int i = 0; i < j; i++) {
                            dup |= route[r * k + i] == e;
                        }
                    } while (dup);
                    route[r * k + j] = e;
                }
            }
        };
        CopyRing pool = new CopyRing() {
            @Override public DeviceWeights slot(int s) { return null; }
            @Override public void copy(int unit, int slot, int ticket) {}
            @Override public void awaitCopy(int ticket) {}
            @Override public void slotUsed(int slot) {}
            @Override public long copyNanos(int ticket) { return 0; }
            @Override public void drain() {}
            @Override public long pinnedBytes() { return 0; }
            @Override public long slotBytes() { return 0; }
            @Override public void close() {}
        };
        AcceleratorModel device = (AcceleratorModel) Proxy.newProxyInstance(AcceleratorModel.class.getClassLoader(),
                new Class<?>[] {AcceleratorModel.class}, (proxy, method, a) -> {
                    switch (method.getName()) {
                        case "readRouting" -> {
                            System.arraycopy(route, 0, (int[]) a[1], 0, (int) a[0] * k);
                            java.util.Arrays.fill((float[]) a[2], 0, (int) a[0] * k, 0.125f);
                        }
                        case "readPredicted" -> System.arraycopy(route, 0, (int[]) a[1], 0, (int) a[0] * k);
                        default -> { }
                    }
                    return method.getReturnType() == boolean.class ? false : null;
                });
        int[] unitOf = new int[blocks * experts];
        long[] unitBytes = new long[blocks * experts];
        for (int i = 0; i < unitOf.length; i++) {
            unitOf[i] = i;
            unitBytes[i] = 2_900_000;
        }
        try (ExpertTier tier = new ExpertTier(pool, blocks, experts, k, unitOf, unitBytes, slots, cached,
                chunkCached, 2_900_000, rows)) {
            Step step = new Step(rows);
            KvCache cache = new KvCache() {
                @Override public int capacity() { return 4096; }
                @Override public long byteSize() { return 0; }
                @Override public void close() {}
            };
            int[] tokens = new int[rows];
            for (int round = 0; round < 6; round++) {
                step.prompt(Phase.PROMPT, cache, tokens, 0, rows, 0); // a prompt chunk
                fill[0] = rows;
                double promptUs = microsPerBlock(tier, device, step, blocks, 1, block, reroute);
                step.prompt(Phase.DECODE, cache, tokens, 0, 1, 0); // decode tokens
                fill[0] = 1;
                ExpertCache.Stats before = tier.stats();
                double decodeUs = microsPerBlock(tier, device, step, blocks, 256, block, reroute);
                ExpertCache.Stats after = tier.stats();
                long hits = 0;
                long all = 0;
                for (int b = 0; b < blocks; b++) {
                    hits += after.hits()[b] - before.hits()[b];
                    all += after.hits()[b] + after.misses()[b] - before.hits()[b] - before.misses()[b];
                }
                System.out.printf("round %d: host µs per sparse block: prompt chunk of %d rows %.1f, decode token %.2f;"
                        + " decode hit rate %.3f (%d cached during decode, %d during chunks)%n", round, rows, promptUs,
                        decodeUs, (double) hits / all, cached, chunkCached);
            }
        }
    }

    /** Host µs per sparse block over {@code steps} steps of every block, the routing's own making left out. */
    private static double microsPerBlock(ExpertTier tier, AcceleratorModel device, Step step, int blocks, int steps,
                                         int[] block, Runnable reroute) {
        long routeNanos = 0;
        long t = System.nanoTime();
        for (int s = 0; s < steps; s++) {
            tier.beginStep(step.rows());
            for (int b = 0; b < blocks; b++) {
                long r0 = System.nanoTime();
                block[0] = b;
                reroute.run();
                routeNanos += System.nanoTime() - r0;
                tier.run(device, null, b, step, b + 1 < blocks);
            }
        }
        return (System.nanoTime() - t - routeNanos) / 1e3 / blocks / steps;
    }
}

package io.offload4j.offload;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.MoeRoutingCounts;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.MoeWeights;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.model.SyntheticMoe;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * A program, not a test: the expert-cache hit rates a Zipf-routed synthetic mixture of experts would see. It writes a
 * Qwen3-MoE-like model (width 512, 8 blocks, 64 experts, 8 per token, Q8_0), runs random tokens through the CPU pass
 * with the routing trace on, and replays the trace against W-TinyLFU, LRU and Belady at several cache sizes.
 *
 * <pre>
 * ./mvnw -B -q -o -pl provider test-compile
 * java --add-modules jdk.incubator.vector -cp "provider/target/classes:provider/target/test-classes:$(cat cp.txt)" \
 *     io.offload4j.offload.MoeCacheAnalysis [tokens=1024] [zipf exponents=0,0.6,1.0,1.2]
 * </pre>
 */
public final class MoeCacheAnalysis {

    private MoeCacheAnalysis() {}

    public static void main(String[] args) throws Exception {
        int tokens = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        String[] exponents = (args.length > 1 ? args[1] : "0,0.6,1.0,1.2").split(",");
        Path dir = Files.createTempDirectory("moe-cache");
        for (String e : exponents) {
            double s = Double.parseDouble(e);
            SyntheticModelSpec spec = new SyntheticModelSpec("moe-cache", Architecture.QWEN3MOE, 512, 8, 1024, 8, 4,
                    64, 4096, tokens, QuantPreset.Q8_0, false, 5, new SyntheticMoe(64, 8, 256, 0, true, s));
            Path file = dir.resolve("moe-" + s + ".gguf");
            SyntheticModelWriter.write(spec, file);
            try (Model m = Model.load(file);
                 ForwardPass pass = new CpuBackend(0).prepare(m, tokens, 64);
                 KvCache cache = pass.newKvCache(tokens)) {
                int blocks = m.config().blockCount();
                int experts = m.config().moe().expertCount();
                MoeRoutingCounts counts = new MoeRoutingCounts(blocks, experts, tokens * blocks * 8);
                pass.routingListener(counts);
                int[] prompt = new SplittableRandom(17).ints(tokens, 3, 4096).toArray();
                float[] logits = new float[m.config().vocabularySize()];
                long t0 = System.nanoTime();
                for (int p = 0; p < tokens; p++) { // decode, one token at a time: the order a cache sees
                    pass.forward(cache, prompt, p, 1, p, logits);
                }
                double seconds = (System.nanoTime() - t0) / 1e9;
                long[] bytes = new long[blocks * experts];
                for (int b = 0; b < blocks; b++) {
                    MoeWeights w = m.weights().blocks().get(b).moe();
                    for (int x = 0; x < experts; x++) {
                        bytes[b * experts + x] = w.expertBytes(x);
                    }
                }
                long all = java.util.Arrays.stream(bytes).sum();
                ExpertCacheReplay replay = new ExpertCacheReplay(counts.trace(), experts, bytes);
                System.out.printf("Zipf s=%.2f: %d tokens decoded on the CPU in %.1f s; expert hit rates%n", s, tokens,
                        seconds);
                for (double f : new double[] {0.125, 0.25, 0.5}) {
                    long cap = (long) (f * all);
                    double belady = replay.belady(cap).hitRate();
                    double lfu = replay.caffeine(cap).hitRate();
                    double lru = replay.lru(cap).hitRate();
                    System.out.printf("  cache %5.1f%% of the experts: Belady %.3f  W-TinyLFU %.3f (%.0f%% of optimum)"
                            + "  LRU %.3f%n", 100 * f, belady, lfu, 100 * lfu / belady, lru);
                }
            }
        }
    }
}

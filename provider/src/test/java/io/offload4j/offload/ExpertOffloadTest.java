package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.model.SyntheticMoe;
import io.offload4j.model.Weight;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A mixture of experts larger than its budget with its experts placed one by one ({@link ExpertTier}), on the
 * {@link SimulatedAccelerator}: every step's per-row expert sums equal the resident run's (each choice computed once,
 * from a slot holding its own expert, after its copy), for prompt chunks, decode steps and batches, at budgets that
 * force misses (and prompt chunks in several passes); the cache counts k accesses per token and sparse block; the
 * attention units still run once per step, in order. The numbers themselves are checked on the GPU
 * ({@code backend.cuda.MoeOffloadGpuTest}).
 */
class ExpertOffloadTest {

    private static final int BLOCKS = 4;
    private static final int EXPERTS = 16;
    private static final int K = 4;
    @TempDir
    static Path dir;
    private static Path file;

    @BeforeAll
    static void writeModel() {
        file = dir.resolve("moe.gguf");
        SyntheticModelWriter.write(new SyntheticModelSpec("moe-offload", Architecture.QWEN3MOE, 256, BLOCKS, 512, 8,
                4, 0, 512, 512, QuantPreset.Q8_0, false, 5, new SyntheticMoe(EXPERTS, K, 256, 0, true, 1.0)), file);
    }

    /** Sizes as the simulated device lays units out (their bytes back to back). */
    private static long bytes(Weight... parts) {
        return Arrays.stream(parts).mapToLong(w -> w.data().byteSize()).sum();
    }

    /** Steps of a conversation: a chunked prompt, decode steps, a second sequence, a batch; their expert sums. */
    private static List<double[]> converse(ForwardPass pass, SimulatedAccelerator sim, int vocab) {
        float[] logits = new float[vocab];
        int[] prompt = new int[21];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = (i * 37 + 11) % vocab;
        }
        try (KvCache a = pass.newKvCache(64); KvCache b = pass.newKvCache(64)) {
            pass.forward(a, prompt, 0, 16, 0, logits);
            pass.forward(a, prompt, 16, 5, 16, logits);
            for (int t = 0; t < 6; t++) {
                pass.forward(a, new int[] {(t * 5 + 3) % vocab}, 0, 1, 21 + t, logits);
            }
            pass.forward(b, prompt, 3, 7, 0, logits);
            pass.forwardBatch(new KvCache[] {a, b}, new int[] {9, 10}, new int[] {27, 7}, 2,
                    new float[][] {new float[vocab], new float[vocab]});
            pass.forward(a, new int[] {4}, 0, 1, 28, logits);
        }
        return sim.expertSums;
    }

    /** Tokens the conversation above runs through each block. */
    private static final int TOKENS = 16 + 5 + 6 + 7 + 2 + 1;

    @ParameterizedTest(name = "cache for {0} of 64 experts, attention resident {1}, placement {2}")
    @CsvSource({"4, true, stream", "12, true, stream", "40, true, stream", "48, true, stream", "4, false, stream",
            "4, true, cpu", "24, true, cpu", "4, false, cpu"})
    void expertsInAPoolGiveTheResidentRunsSums(int cached, boolean attentionResident, String placement) {
        try (Model model = Model.load(file)) {
            int vocab = model.config().vocabularySize();
            SimulatedAccelerator residentSim = new SimulatedAccelerator();
            List<double[]> expected;
            try (ForwardPass pass = TieredPasses.prepare(residentSim, model, 64, 16,
                    OffloadOptions.DEFAULTS.withExpertCache(true))) {
                assertTrue(((TieredForwardPass) pass).plan().allResident());
                assertNull(((TieredForwardPass) pass).expertStats(), "a model that fits keeps its blocks whole");
                expected = List.copyOf(converse(pass, residentSim, vocab));
            }

            ModelUnits attention = ModelUnits.of(model.weights(), ExpertOffloadTest::bytes, true);
            long slot = bytes(model.weights().blocks().getFirst().moe().expert(0));
            long largest = Arrays.stream(attention.bytes()).max().orElseThrow();
            // resident: every attention unit and the head plus the pool; streamed: a ring of 3 slots for them
            long units = attentionResident ? attention.totalBytes() : 3 * largest;
            int slotCount = cached + K;
            while (slotCount - ExpertPlan.freeSlots(slotCount, K, EXPERTS, false) < cached) {
                slotCount++;
            }
            long budget = units + slotCount * slot;
            SimulatedAccelerator sim = new SimulatedAccelerator();
            try (ForwardPass pass = TieredPasses.prepare(sim, model, 64, 16,
                    OffloadOptions.DEFAULTS.withGpuMemoryBudget(budget).withExpertCache(true)
                            .withExpertPrefetch(false).withPlacement(placement))) {
                TieredForwardPass tiered = (TieredForwardPass) pass;
                assertEquals(attentionResident, tiered.plan().allResident(), tiered.plan().toString());
                ExpertCacheStats before = tiered.expertStats();
                assertNotNull(before);
                assertEquals(slotCount, before.slots(), before.reasoning());
                // decode steps cache all but k slots; a prompt chunk, all but freeSlots (this pool's chunk cache)
                assertEquals(Math.min(BLOCKS * EXPERTS, slotCount - ExpertPlan.decodeFreeSlots(K, false)),
                        before.cacheSlots());
                assertTrue(before.cacheSlots() >= cached);
                io.offload4j.backend.MoeRoutingCounts routing = new io.offload4j.backend.MoeRoutingCounts(BLOCKS,
                        EXPERTS, 10_000);
                pass.routingListener(routing);
                List<double[]> actual = converse(pass, sim, vocab);
                assertEquals(expected.size(), actual.size(), "steps");
                assertEquals((long) BLOCKS * K * TOKENS, routing.trace().length, "every choice reported");
                for (int s = 0; s < expected.size(); s++) {
                    double[] want = expected.get(s);
                    double[] got = actual.get(s);
                    assertEquals(want.length, got.length);
                    for (int r = 0; r < want.length; r++) {
                        assertEquals(want[r], got[r], 1e-9 * Math.abs(want[r]), "step " + s + " row " + r);
                    }
                }
                // every unit of every step ran once, in order (the attention parts streamed or not)
                for (int[] order : sim.stepOrder) {
                    assertArrayEquals(java.util.stream.IntStream.range(0, attention.count()).toArray(), order);
                }
                ExpertCacheStats stats = tiered.expertStats();
                for (int l = 0; l < BLOCKS; l++) {
                    assertEquals((long) K * TOKENS, stats.hits()[l] + stats.misses()[l], "block " + l);
                }
                // a miss is one copy, or one made ahead by the block before (the 16-token prompt chunk predicts when
                // the next block's attention part is resident); a copy ahead may go unused
                assertEquals(sim.model.pool.copies, stats.copies() + stats.prefetches());
                assertTrue(stats.copies() <= stats.totalMisses()
                        && stats.totalMisses() <= stats.copies() + stats.prefetches(), stats.toString());
                long chunkPredictions = attentionResident ? (long) (BLOCKS - 1) * K * 16 : 0;
                assertEquals(chunkPredictions, stats.predicted(), "only the 16-token chunk predicts: "
                        + stats.reasoning());
                // decode tokens (7 of the conversation's steps) run each resident attention part as a graph
                assertEquals(attentionResident ? 7 * BLOCKS : 0, sim.model.sparseAttentionGraphs, "recorded parts");
                if (!attentionResident) {
                    assertEquals(stats.totalMisses(), stats.copies(), "nothing copied ahead");
                } else if (before.slots() - before.cacheSlots() > K) {
                    assertTrue(stats.prefetches() > 0, "free slots beyond k take the chunk's predicted experts");
                }
                assertEquals(0, sim.model.pool.copiesAheadBehindAWait, "copies ahead queued behind a waiting one");
                assertTrue(sim.model.pool.awaits <= stats.passes(), "at most one wait for copies per pass: "
                        + sim.model.pool.awaits + " waits, " + stats.passes() + " passes");
                assertTrue(stats.totalMisses() >= (long) BLOCKS * EXPERTS / 2, "misses forced: " + stats.totalMisses());
                if (cached < 16) {
                    assertTrue(stats.passes() > (long) BLOCKS * expected.size(), "prompt chunks needed passes");
                    assertTrue(stats.totalEvictions() + stats.totalRejections() > 0, "a small cache turns over");
                }
                assertTrue(stats.hitRate() > 0 && stats.hitRate() < 1, "hit rate " + stats.hitRate());
                // placement cpu: a decode token's misses were computed on the CPU (checked against a reference by
                // the simulated device), and copied to the GPU in the background all the same
                assertEquals(stats.cpuComputed(), sim.cpuExpertsChecked);
                assertEquals(placement.equals("cpu"), stats.cpuComputed() > 0, "CPU misses " + stats.cpuComputed());
            }
        }
    }

    /**
     * With decode prefetching too, each step's next block's experts are predicted (here exactly for even tokens, one
     * expert off for odd ones) and the cold ones copied ahead, for decode tokens, prompt chunks and batches: the sums
     * stay the resident run's, a prefetched expert computes only after its copy, the prediction's hit rate is counted,
     * and a copy ahead never waits behind one into a slot the current block reads (the copy stream runs in order).
     */
    @ParameterizedTest(name = "pool of {0} slots, placement {1}")
    @CsvSource({"12, stream", "28, stream", "12, cpu", "44, stream"})
    void prefetchingPredictedExpertsKeepsTheSumsAndCountsThePredictions(int slotCount, String placement) {
        try (Model model = Model.load(file)) {
            int vocab = model.config().vocabularySize();
            SimulatedAccelerator residentSim = new SimulatedAccelerator();
            List<double[]> expected;
            try (ForwardPass pass = TieredPasses.prepare(residentSim, model, 64, 16, OffloadOptions.DEFAULTS)) {
                expected = List.copyOf(converse(pass, residentSim, vocab));
            }
            ModelUnits attention = ModelUnits.of(model.weights(), ExpertOffloadTest::bytes, true);
            long slot = bytes(model.weights().blocks().getFirst().moe().expert(0));
            long budget = attention.totalBytes() + slotCount * slot;
            SimulatedAccelerator sim = new SimulatedAccelerator();
            try (ForwardPass pass = TieredPasses.prepare(sim, model, 64, 16, OffloadOptions.DEFAULTS
                    .withGpuMemoryBudget(budget).withExpertCache(true).withExpertPrefetch(true)
                    .withPlacement(placement))) {
                TieredForwardPass tiered = (TieredForwardPass) pass;
                ExpertCacheStats before = tiered.expertStats();
                assertEquals(ExpertPlan.decodeFreeSlots(K, true), before.slots() - before.cacheSlots(),
                        before.reasoning());
                assertTrue(before.slots() - before.cacheSlots() >= 2 * K, "k for the misses, k for the predicted");
                List<double[]> actual = converse(pass, sim, vocab);
                for (int s = 0; s < expected.size(); s++) {
                    assertArrayEquals(expected.get(s), actual.get(s), 1e-9 * Math.abs(expected.get(s)[0]),
                            "step " + s);
                }
                ExpertCacheStats stats = tiered.expertStats();
                int forwardCalls = 11; // the conversation's prompt chunks, decode tokens and batch
                assertEquals((long) forwardCalls * (BLOCKS - 1), sim.model.predictions, "one per block but the last");
                assertEquals((long) TOKENS * (BLOCKS - 1) * K, stats.predicted());
                assertTrue(stats.predictionHitRate() > 0.5 && stats.predictionHitRate() < 1,
                        "prediction hit rate " + stats.predictionHitRate());
                assertTrue(stats.prefetches() > 0, "cold predicted experts were copied ahead");
                for (int l = 0; l < BLOCKS; l++) {
                    assertEquals((long) K * TOKENS, stats.hits()[l] + stats.misses()[l], "block " + l);
                }
                assertEquals(sim.model.pool.copies, stats.copies() + stats.prefetches());
                assertEquals(0, sim.model.pool.copiesAheadBehindAWait, "copies ahead queued behind a waiting one");
                assertTrue(sim.model.pool.awaits <= stats.passes(), "at most one wait for copies per pass: "
                        + sim.model.pool.awaits + " waits, " + stats.passes() + " passes");
            }
        }
    }

    /**
     * A decode step that fails in a sparse block's attention (after the block before staged the experts it predicted
     * for it) or in its experts: the slots the step held go back to the pool (every slot free or cached again), and
     * the steps after the failure give the resident run's sums.
     */
    @ParameterizedTest(name = "fails in the {0} of block {1} of a decode token")
    @CsvSource({"attention, 0", "attention, 2", "attention, 3", "experts, 0", "experts, 2"})
    void aFailedStepLeavesNoSlotBehind(String where, int failAt) {
        try (Model model = Model.load(file)) {
            int vocab = model.config().vocabularySize();
            float[] logits = new float[vocab];
            int[] prompt = new int[16];
            for (int i = 0; i < prompt.length; i++) {
                prompt[i] = (i * 29 + 7) % vocab;
            }
            SimulatedAccelerator residentSim = new SimulatedAccelerator();
            List<double[]> expected;
            try (ForwardPass pass = TieredPasses.prepare(residentSim, model, 64, 16, OffloadOptions.DEFAULTS);
                 KvCache c = pass.newKvCache(64)) {
                after(pass, c, prompt, logits, vocab);
                expected = List.copyOf(residentSim.expertSums);
            }
            ModelUnits attention = ModelUnits.of(model.weights(), ExpertOffloadTest::bytes, true);
            long slot = bytes(model.weights().blocks().getFirst().moe().expert(0));
            SimulatedAccelerator sim = new SimulatedAccelerator();
            try (ForwardPass pass = TieredPasses.prepare(sim, model, 64, 16, OffloadOptions.DEFAULTS
                    .withGpuMemoryBudget(attention.totalBytes() + 20 * slot))) {
                ExpertTier tier = ((TieredForwardPass) pass).expertTier();
                try (KvCache c = pass.newKvCache(64)) {
                    pass.forward(c, prompt, 0, 16, 0, logits);
                    pass.forward(c, new int[] {3}, 0, 1, 16, logits);
                    assertTrue(tier.idle(), "between steps every slot is free or cached");
                    if (where.equals("attention")) {
                        sim.model.failSparseAttentionAfter = failAt;
                    } else {
                        sim.model.failPooledExpertsAfter = failAt;
                    }
                    assertThrows(IllegalStateException.class, () -> pass.forward(c, new int[] {4}, 0, 1, 17, logits));
                    assertTrue(tier.idle(), "the failed step's slots are back");
                }
                long prefetchesBefore = ((TieredForwardPass) pass).expertStats().prefetches();
                int from = sim.expertSums.size();
                try (KvCache c = pass.newKvCache(64)) {
                    after(pass, c, prompt, logits, vocab);
                }
                List<double[]> actual = sim.expertSums.subList(from, sim.expertSums.size());
                assertEquals(expected.size(), actual.size(), "steps after the failure");
                for (int s = 0; s < expected.size(); s++) {
                    assertArrayEquals(expected.get(s), actual.get(s), 1e-9 * Math.abs(expected.get(s)[0]), "step " + s);
                }
                assertTrue(((TieredForwardPass) pass).expertStats().prefetches() > prefetchesBefore,
                        "copies ahead go on after the failure");
                assertTrue(tier.idle(), "no slot leaked by the failed step");
            }
        }
    }

    /** A 16-token prompt and 40 decode tokens. */
    private static void after(ForwardPass pass, KvCache c, int[] prompt, float[] logits, int vocab) {
        pass.forward(c, prompt, 0, 16, 0, logits);
        for (int t = 0; t < 40; t++) {
            pass.forward(c, new int[] {(t * 11 + 5) % vocab}, 0, 1, 16 + t, logits);
        }
    }

    /** Since session 13 the expert cache (with decode prefetch) is what a mixture larger than its budget gets. */
    @Test
    void theExpertCacheIsTheDefaultForAMixtureLargerThanItsBudget() {
        try (Model model = Model.load(file)) {
            ModelUnits attention = ModelUnits.of(model.weights(), ExpertOffloadTest::bytes, true);
            long slot = bytes(model.weights().blocks().getFirst().moe().expert(0));
            OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(attention.totalBytes() + 32 * slot);
            assertTrue(options.expertCache() && options.expertPrefetch(), options.toString());
            try (ForwardPass pass = TieredPasses.prepare(new SimulatedAccelerator(), model, 64, 16, options)) {
                ExpertCacheStats stats = ((TieredForwardPass) pass).expertStats();
                assertNotNull(stats, "experts placed one by one");
                assertTrue(stats.reasoning().contains("decode steps too"), stats.reasoning());
            }
            // whole sparse blocks need a staging ring of whole blocks: a budget the expert pool was content with is
            // refused, a larger one places them whole
            assertThrows(IllegalArgumentException.class, () -> TieredPasses.prepare(new SimulatedAccelerator(),
                    model, 64, 16, options.withExpertCache(false)).close());
            try (ForwardPass pass = TieredPasses.prepare(new SimulatedAccelerator(), model, 64, 16,
                    options.withExpertCache(false).withGpuMemoryBudget(11L << 20))) {
                assertNull(((TieredForwardPass) pass).expertStats(), "sparse blocks placed whole");
                assertTrue(((TieredForwardPass) pass).plan().count(Placement.STREAMED) > 0);
            }
        }
    }

    @Test
    void aBudgetBelowTheSmallestPoolIsRefusedWithWhatItNeeds() {
        try (Model model = Model.load(file)) {
            long slot = bytes(model.weights().blocks().getFirst().moe().expert(0));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> TieredPasses.prepare(
                    new SimulatedAccelerator(), model, 64, 16,
                    OffloadOptions.DEFAULTS.withGpuMemoryBudget(2 * K * slot).withExpertCache(true)));
            assertTrue(e.getMessage().contains("expert pool needs at least " + 2 * K + " slots"), e.getMessage());
        }
    }
}

package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The tiered pass's per-step loop against a {@link SimulatedAccelerator}: prepared by {@link TieredPasses} as the
 * engine prepares it, with the resident units, the ring and, for the CPU placement, real CPU blocks. Every step runs
 * every unit once and in order, each from memory that holds it; the hit rate is the resident share; a decode step
 * copies exactly the streamed units' bytes; hybrid decode steps hand the CPU its units and prompt chunks and batches
 * stream them instead.
 */
class TieredForwardPassTest {

    private static final int BLOCKS = 8;
    @TempDir
    static Path dir;
    private static Path file;

    @BeforeAll
    static void writeModel() {
        file = dir.resolve("eight-blocks.gguf");
        SyntheticModelSpec tiny = SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.Q8_0);
        SyntheticModelWriter.write(new SyntheticModelSpec("eight", tiny.architecture(), tiny.embeddingLength(),
                BLOCKS, tiny.feedForwardLength(), tiny.headCount(), tiny.headCountKv(), 0, tiny.vocabularySize(),
                tiny.contextLength(), tiny.quantization(), false, 7), file);
    }

    @ParameterizedTest(name = "room for {0} of the blocks, depth {1}, placement {2}")
    @CsvSource({"8, 2, STREAM", "5, 2, STREAM", "2, 1, STREAM", "0, 3, STREAM", "4, 2, CPU", "1, 1, CPU"})
    void everyStepRunsEveryUnitOnceInOrderFromMemoryThatHoldsIt(int room, int depth, PlacementPolicy placement) {
        SimulatedAccelerator accelerator = new SimulatedAccelerator();
        try (Model model = Model.load(file)) {
            long block = model.weights().blocks().getFirst().matrixBytes();
            long head = model.weights().output().byteSize();
            long budget = room >= BLOCKS ? OffloadOptions.AUTO : room * block + (depth + 1) * Math.max(block, head);
            OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(budget).withPrefetchDepth(depth)
                    .withPlacement(placement);
            try (ForwardPass pass = TieredPasses.prepare(accelerator, model, 64, 16, options)) {
                TieredForwardPass tiered = (TieredForwardPass) pass;
                PlacementPlan plan = tiered.plan();
                int units = plan.placements().length;
                int[] prompt = {1, 5, 9, 13, 17, 21, 25, 29};
                float[] logits = new float[model.config().vocabularySize()];
                try (KvCache a = pass.newKvCache(64); KvCache b = pass.newKvCache(64)) {
                    pass.forward(a, prompt, 0, prompt.length, 0, logits);
                    assertOrder(accelerator, plan, units, false);
                    long copiedBefore = accelerator.copiedBytes;
                    int decodeSteps = 6;
                    for (int i = 0; i < decodeSteps; i++) {
                        pass.forward(a, new int[] {3 + i}, 0, 1, prompt.length + i, logits);
                        assertOrder(accelerator, plan, units, true);
                    }
                    long streamedPerDecodeStep = 0;
                    for (int u = 0; u < units; u++) {
                        if (plan.placement(u) == Placement.STREAMED) {
                            streamedPerDecodeStep += accelerator.model.unitBytes(
                                    u < BLOCKS ? model.weights().blocks().get(u).matrices()
                                            : new io.offload4j.model.Weight[] {model.weights().output()});
                        }
                    }
                    if (plan.count(Placement.CPU) == 0) {
                        // every decode step copies exactly the streamed units (the ring keeps copying ahead)
                        assertEquals(decodeSteps * streamedPerDecodeStep, accelerator.copiedBytes - copiedBefore,
                                plan.toString());
                    }
                    pass.forward(b, prompt, 0, 3, 0, logits);
                    assertOrder(accelerator, plan, units, false);
                    pass.forwardBatch(new KvCache[] {a, b}, new int[] {4, 5}, new int[] {prompt.length + decodeSteps, 3},
                            2, new float[][] {new float[logits.length], new float[logits.length]});
                    assertOrder(accelerator, plan, units, false);
                    // a mixed step (b verifying 2 drafts beside a's decode row): one step of every unit for 4 rows,
                    // each row's logits; the CPU units' rows of b go down to its CPU cache like a's
                    pass.forwardBatch(new KvCache[] {a, b, b, b}, new int[] {4, 5, 6, 7},
                            new int[] {prompt.length + decodeSteps, 4, 5, 6}, 4, new float[4][logits.length]);
                    assertOrder(accelerator, plan, units, false);
                    assertEquals(4, accelerator.lastRows);
                    assertEquals(4, accelerator.lastOutputs);
                    if (plan.count(Placement.CPU) > 0) {
                        assertEquals(6, accelerator.lastKvHandOff[0], "the last row handed down: b's at position 6");
                    }
                    // a speculative verification: 5 rows, every row's logits; like a decode step, the CPU units run
                    // on the CPU (all 5 rows at once) and write their 5 K/V rows into the accelerator's cache too
                    float[][] rows = new float[5][logits.length];
                    int verifyAt = prompt.length + decodeSteps + 1;
                    int kvRowsBefore = accelerator.kvRowsWritten;
                    accelerator.lastKvRowPosition = -1;
                    pass.forwardAll(a, new int[] {7, 8, 9, 10, 11}, 0, 5, verifyAt, rows);
                    assertOrder(accelerator, plan, units, true);
                    assertEquals(5, accelerator.lastRows);
                    assertEquals(5, accelerator.lastOutputs, "every row's logits");
                    int cpuUnits = plan.count(Placement.CPU);
                    assertEquals(5 * cpuUnits, accelerator.kvRowsWritten - kvRowsBefore, plan.toString());
                    assertEquals(cpuUnits > 0 ? verifyAt + 4 : -1, accelerator.lastKvRowPosition);
                    // a longer verification (more rows than HybridRoutes.PRIOR_HYBRID_ROWS), not yet timed, streams the CPU units and
                    // hands their K/V rows to the CPU's cache instead
                    int longer = HybridRoutes.PRIOR_HYBRID_ROWS + 2;
                    float[][] longRows = new float[longer][logits.length];
                    pass.forwardAll(a, java.util.stream.IntStream.range(7, 7 + longer).toArray(), 0, longer, verifyAt,
                            longRows);
                    assertOrder(accelerator, plan, units, false);
                    if (cpuUnits > 0) {
                        assertEquals(verifyAt, accelerator.lastKvHandOff[0]);
                        assertEquals(longer, accelerator.lastKvHandOff[1]);
                        // the pass times its routes (HybridRoutes): once streaming has a time (its second step; the
                        // first is not counted), a verification of that many rows tries the CPU blocks on the CPU
                        pass.forwardAll(a, java.util.stream.IntStream.range(7, 7 + longer).toArray(), 0, longer,
                                verifyAt, longRows);
                        assertOrder(accelerator, plan, units, false);
                        pass.forwardAll(a, java.util.stream.IntStream.range(7, 7 + longer).toArray(), 0, longer,
                                verifyAt, longRows);
                        assertOrder(accelerator, plan, units, true);
                        assertEquals(verifyAt + longer - 1, accelerator.lastKvRowPosition, "its K/V rows went up");
                    }
                    pass.forward(a, new int[] {12}, 0, 1, prompt.length + decodeSteps + 3, logits); // after a rollback
                    assertOrder(accelerator, plan, units, true);
                    assertEquals(1, accelerator.lastOutputs);
                    // a batch of one sequence's rows (a lone sequence verifying drafts) runs as its own step:
                    // every row's logits; rows that skip a position are refused
                    pass.forwardBatch(new KvCache[] {a, a}, new int[] {1, 1}, new int[] {20, 21}, 2, longRows);
                    assertEquals(2, accelerator.lastOutputs);
                    assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(new KvCache[] {a, a},
                            new int[] {1, 1}, new int[] {20, 22}, 2, longRows));
                }
                OffloadStats stats = tiered.offloadStats();
                int resident = plan.count(Placement.RESIDENT);
                assertEquals(resident / (double) units, stats.hitRate(), 1e-9, stats.toString());
                assertEquals(0, stats.cacheEvictions(), "the layer cycle never evicts a pinned unit");
                assertTrue(room >= BLOCKS || resident < units, plan.toString());
            }
        }
    }

    /**
     * Another process took GPU memory between the budget and the uploads: an automatic budget is tried again, smaller
     * and within what is free then, and the model loads with more units streamed; an explicit budget that does not
     * fit is the user's error and is reported, naming the device and what ran out.
     */
    @org.junit.jupiter.api.Test
    void outOfDeviceMemoryAtLoadShrinksAnAutomaticBudgetAndReportsAnExplicitOne() {
        try (Model model = Model.load(file)) {
            long total = model.weights().output().byteSize()
                    + model.weights().blocks().stream().mapToLong(b -> b.matrixBytes()).sum();
            SimulatedAccelerator accelerator = new SimulatedAccelerator();
            long margin = WeightBudget.MARGIN_BYTES;
            // plenty free at first; once the first attempt has failed, only about half the model's bytes are
            accelerator.free = new long[] {margin + 4 * total, margin + total / 2};
            accelerator.uploadLimit = total / 2;
            try (ForwardPass pass = TieredPasses.prepare(accelerator, model, 64, 16,
                    OffloadOptions.DEFAULTS.withPlacement(PlacementPolicy.STREAM))) {
                PlacementPlan plan = ((TieredForwardPass) pass).plan();
                assertEquals(2, accelerator.loads, "one failed attempt, one that fits");
                assertTrue(plan.count(Placement.STREAMED) > 0, plan.toString());
                float[] logits = new float[model.config().vocabularySize()];
                try (KvCache c = pass.newKvCache(16)) {
                    pass.forward(c, new int[] {1, 2, 3}, 0, 3, 0, logits);
                }
            }
            SimulatedAccelerator small = new SimulatedAccelerator();
            small.uploadLimit = total / 4;
            io.offload4j.backend.DeviceMemoryException e = assertThrows(
                    io.offload4j.backend.DeviceMemoryException.class, () -> TieredPasses.prepare(small, model, 64, 16,
                            OffloadOptions.DEFAULTS.withGpuMemoryBudget(total).withPlacement(PlacementPolicy.STREAM)));
            assertTrue(e.getMessage().contains("sim is out of memory: a resident unit of weights"), e.getMessage());
            assertEquals(1, small.loads, "an explicit budget is not changed behind the user's back");
        }
    }

    /** The last step ran every unit once, in order; in a hybrid decode step the CPU units ran on the CPU. */
    private static void assertOrder(SimulatedAccelerator accelerator, PlacementPlan plan, int units, boolean decode) {
        int[] order = accelerator.stepOrder.getLast();
        assertEquals(units, order.length, java.util.Arrays.toString(order));
        for (int u = 0; u < units; u++) {
            boolean onCpu = decode && plan.placement(u) == Placement.CPU;
            assertEquals(onCpu ? SimulatedAccelerator.ON_CPU : u, order[u], "unit " + u + " of "
                    + java.util.Arrays.toString(order) + " for " + plan);
        }
    }
}

package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.Accelerator;
import io.offload4j.backend.AcceleratorGroup;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A model split over a group of {@link SimulatedAccelerator}s as the engine splits it: every step runs each stage's
 * run of blocks once and in order on its own device (the head on the last), every stage after the first starts from
 * the rows the one before it handed on, and a stage whose share does not fit its budget streams it through its own
 * ring. The numbers are checked on the GPU ({@code backend.cuda.PipelineGpuTest}: logits bit-identical to one GPU).
 */
class PipelineForwardPassTest {

    private static final int BLOCKS = 9;
    @TempDir
    static Path dir;
    private static Path file;

    @BeforeAll
    static void writeModel() {
        file = dir.resolve("nine-blocks.gguf");
        SyntheticModelSpec tiny = SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.Q8_0);
        SyntheticModelWriter.write(new SyntheticModelSpec("nine", tiny.architecture(), tiny.embeddingLength(),
                BLOCKS, tiny.feedForwardLength(), tiny.headCount(), tiny.headCountKv(), 0, tiny.vocabularySize(),
                tiny.contextLength(), tiny.quantization(), false, 9), file);
    }

    @ParameterizedTest(name = "{0} devices, room for {1} blocks each, device-to-device copies {2}")
    @CsvSource({"2, 99, false", "3, 99, false", "2, 1, false", "3, 0, false", "2, 99, true", "3, 0, true"})
    void everyStageRunsItsBlocksInOrderFromTheRowsTheOneBeforeHandedOn(int devices, int room, boolean peer) {
        List<SimulatedAccelerator> sims = IntStream.range(0, devices).mapToObj(i -> new SimulatedAccelerator())
                .toList();
        sims.forEach(s -> {
            s.pipelineStage = true;
            s.peerCopies = peer;
        });
        AcceleratorGroup group = new AcceleratorGroup(List.copyOf(sims.stream().map(s -> (Accelerator) s).toList()),
                IntStream.range(0, devices).mapToObj(i -> "sim" + i).toList());
        try (Model model = Model.load(file)) {
            long block = model.weights().blocks().getFirst().matrixBytes();
            long head = model.weights().output().byteSize();
            OffloadOptions options = room >= BLOCKS ? OffloadOptions.DEFAULTS
                    : OffloadOptions.DEFAULTS.withGpuMemoryBudget(room * block + 2 * Math.max(block, head))
                            .withPrefetchDepth(1);
            try (ForwardPass pass = TieredPasses.prepare(group, model, 64, 16, options)) {
                PipelineForwardPass pipeline = (PipelineForwardPass) pass;
                int[] starts = pipeline.stageStarts();
                assertEquals(devices, pipeline.stageCount());
                assertEquals(0, starts[0]);
                assertEquals(BLOCKS, starts[devices]);
                for (int i = 0; i < devices; i++) {
                    boolean streams = !pipeline.stage(i).plan().allResident();
                    assertEquals(room < BLOCKS, streams, "stage " + i + ": " + pipeline.stage(i).plan());
                    assertTrue(pass.memoryReport().contains("stage " + (i + 1) + "/" + devices));
                }
                float[] logits = new float[model.config().vocabularySize()];
                int[] prompt = {1, 5, 9, 13, 17};
                try (KvCache a = pass.newKvCache(64); KvCache b = pass.newKvCache(64)) {
                    pass.forward(a, prompt, 0, prompt.length, 0, logits);
                    assertStep(sims, starts, prompt.length);
                    pass.forward(a, new int[] {3}, 0, 1, prompt.length, logits);
                    assertStep(sims, starts, 1);
                    pass.forward(b, prompt, 0, 3, 0, logits);
                    assertStep(sims, starts, 3);
                    float[][] rows = {new float[logits.length], new float[logits.length]};
                    pass.forwardBatch(new KvCache[] {a, b}, new int[] {7, 8}, new int[] {6, 3}, 2, rows);
                    assertStep(sims, starts, 2);
                    pass.forwardAll(a, new int[] {4, 5, 6}, 0, 3, 7, new float[][] {
                            new float[logits.length], new float[logits.length], new float[logits.length]});
                    assertStep(sims, starts, 3);
                    assertEquals(3, sims.getLast().lastOutputs, "the last stage's head computed every row");
                    // a mixed step (a verifying 2 drafts beside b's decode row): one step of 4 rows on every stage
                    float[][] four = new float[4][logits.length];
                    pass.forwardBatch(new KvCache[] {a, a, a, b}, new int[] {4, 5, 6, 9}, new int[] {8, 9, 10, 4}, 4,
                            four);
                    assertStep(sims, starts, 4);
                    assertEquals(4, sims.getLast().lastOutputs, "every row's logits");
                    // a batch of one sequence's rows: that sequence's own step on every stage, every row's logits
                    pass.forwardBatch(new KvCache[] {b, b}, new int[] {2, 3}, new int[] {5, 6}, 2, four);
                    assertStep(sims, starts, 2);
                    assertEquals(2, sims.getLast().lastOutputs);
                    assertThrows(IllegalArgumentException.class, () -> pass.forwardBatch(new KvCache[] {a, b, a},
                            new int[] {1, 2, 3}, new int[] {11, 7, 12}, 3, four), "a sequence's rows apart");
                    try (KvCache other = pass.newKvCache(8)) {
                        assertThrows(IllegalArgumentException.class,
                                () -> pass.forward(other, prompt, 0, prompt.length, 60, logits), "past its capacity");
                    }
                }
            }
        }
    }

    /** The last step: each device ran its run of blocks in order, the head on the last; rows passed on in full. */
    private static void assertStep(List<SimulatedAccelerator> sims, int[] starts, int rows) {
        for (int i = 0; i < sims.size(); i++) {
            SimulatedAccelerator s = sims.get(i);
            int[] order = s.stepOrder.getLast();
            int[] expected = IntStream.range(starts[i], starts[i + 1]).toArray();
            int[] blocks = IntStream.of(order).filter(u -> u < BLOCKS).toArray();
            assertArrayEquals(expected, blocks, "stage " + i);
            boolean last = i == sims.size() - 1;
            assertEquals(last, order.length > blocks.length, "the head only on the last stage");
            if (i > 0) {
                assertEquals(rows, s.received, "stage " + i + " started from the rows handed on");
            }
            if (!last) {
                assertEquals(s.peerCopies ? 0 : rows, s.handedOn,
                        "stage " + i + " handed its rows on through the host only when no device copy can");
            }
            s.received = 0;
            s.handedOn = 0;
        }
    }
}

package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.AcceleratorGroup;
import io.offload4j.backend.Backend;
import io.offload4j.backend.Backends;
import io.offload4j.backend.ForwardPass;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.PipelineForwardPass;
import io.offload4j.offload.TieredPasses;
import io.offload4j.model.Architecture;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The several-GPU path on one GPU: the model split over two or three logical devices on the same GPU
 * ({@code cuda:0,0}: separate stages, KV caches, rings and activation hand-offs, each with its share of the memory)
 * must give logits bit-identical to the one-device run — every prompt chunk, decode step and batch of
 * {@link OffloadGpuTest#run} — resident, and with each stage streaming most of its blocks.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class PipelineGpuTest {

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();

    @TempDir
    static Path tmp;

    /** OffloadGpuTest's 32-block shape, written here (its own temporary folder is its own). */
    static Path model(QuantPreset q) {
        Path p = tmp.resolve("pipeline-" + q + ".gguf");
        if (!p.toFile().exists()) {
            SyntheticModelWriter.write(new SyntheticModelSpec("pipeline-test", Architecture.LLAMA, 256, 32, 512, 8, 4,
                    32, 512, 256, q, false, 7), p);
        }
        return p;
    }

    @ParameterizedTest(name = "{0} over {1}, GPU budget {2} blocks per stage")
    @CsvSource({"Q8_0, 'cuda:0,0', 0", "Q8_0, 'cuda:0,0,0', 0", "Q4_K_M, 'cuda:0,0', 0", "F16, 'cuda:0,0', 0",
                "Q8_0, 'cuda:0,0', 4", "Q4_K_M, 'cuda:0,0,0', 3"})
    void logitsAreBitIdenticalToOneDevice(QuantPreset q, String device, int blocksPerStage) {
        try (Model model = Model.load(model(q))) {
            int vocab = model.config().vocabularySize();
            OffloadOptions options = OffloadOptions.DEFAULTS;
            if (blocksPerStage > 0) {
                long block = model.weights().blocks().getFirst().matrixBytes();
                long head = model.weights().output().byteSize();
                options = options.withGpuMemoryBudget(blocksPerStage * block + 3 * Math.max(block, head))
                        .withPrefetchDepth(2);
            }
            List<float[]> expected;
            try (ForwardPass one = Passes.on(gpu.backend(), model, 64, 32)) {
                expected = OffloadGpuTest.run(one, vocab);
            }
            try (Backend group = Backends.create(device, 0)) {
                AcceleratorGroup g = (AcceleratorGroup) group;
                try (ForwardPass split = TieredPasses.prepare(g, model, 64, 32, options)) {
                    PipelineForwardPass pipeline = (PipelineForwardPass) split;
                    assertEquals(g.members().size(), pipeline.stageCount());
                    for (int i = 0; i < pipeline.stageCount(); i++) {
                        assertEquals(blocksPerStage == 0, pipeline.stage(i).plan().allResident(),
                                "stage " + i + ": " + pipeline.stage(i).plan());
                    }
                    System.out.println(split.memoryReport());
                    List<float[]> actual = OffloadGpuTest.run(split, vocab);
                    assertEquals(expected.size(), actual.size());
                    for (int i = 0; i < expected.size(); i++) {
                        assertArrayEquals(expected.get(i), actual.get(i), "logits " + i + " of " + expected.size());
                    }
                    assertTrue(split.memoryReport().contains("stage " + pipeline.stageCount() + "/"));
                }
            }
        }
    }
}

package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.Placement;
import io.offload4j.offload.TieredForwardPass;
import io.offload4j.testing.PrefixCopyCheck;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link io.offload4j.backend.KvCache#copyPrefix} on the GPU: a prompt prefix copied from another sequence's cache gives the logits of
 * computing it, with every block resident, with half of them on the CPU (the tiered cache copies both parts; a
 * 32-block model, Q8_0) and through a sliding-window ring (Gemma 2, window 8). First run on the lent H100 in session
 * 18: the two resident cases passed; the CPU case then used a budget too small to stream through, fixed here.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class KvPrefixCopyGpuTest {

    private static final int CONTEXT = 256;
    private static final int CHUNK = 8;
    private static final int SHARED = 40;

    static CudaBackend gpu;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void open() {
        gpu = new CudaBackend(0);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"llama, resident", "llama32, cpu", "gemma2, resident"})
    void aCopiedPrefixGivesTheLogitsOfComputingIt(String kind, String placement) {
        Path file = switch (kind) {
            // 32 small blocks: half of them fit a budget that still holds the staging ring of the streamed ones
            case "llama32" -> OffloadGpuTest.model(tmp, QuantPreset.Q8_0);
            case "gemma2" -> write("gemma2", SyntheticModelSpec.tinyGemma(Architecture.GEMMA2, QuantPreset.F32, 8));
            default -> write("llama", SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32));
        };
        try (Model model = Model.load(file)) {
            OffloadOptions options = OffloadOptions.DEFAULTS;
            if (placement.equals("cpu")) {
                try (TieredForwardPass probe = Passes.on(gpu, model, CONTEXT, CHUNK, options)) {
                    options = options.withGpuMemoryBudget(probe.plan().residentBytes() / 2).withPlacement("cpu");
                }
            }
            try (TieredForwardPass pass = Passes.on(gpu, model, CONTEXT, CHUNK, options)) {
                if (placement.equals("cpu")) {
                    assertTrue(pass.plan().count(Placement.CPU) > 0, pass.plan().toString());
                }
                // the rows after the prefix one token at a time: decode steps, their graphs, the CPU blocks' hand-off
                PrefixCopyCheck.assertCopiedPrefixGivesTheComputedLogits(pass, CONTEXT, CHUNK, SHARED, 1, 1e-3,
                        kind + " " + placement);
            }
        }
    }

    private static Path write(String name, SyntheticModelSpec spec) {
        Path file = tmp.resolve(name + ".gguf");
        if (!file.toFile().exists()) {
            SyntheticModelWriter.write(spec, file);
        }
        return file;
    }
}

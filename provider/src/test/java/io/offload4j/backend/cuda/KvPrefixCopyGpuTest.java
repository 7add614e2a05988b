package io.offload4j.backend.cuda;

import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
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
 * computing it, with every block resident, with half of them on the CPU (the tiered cache copies both parts) and
 * through a sliding-window ring (Gemma 2, window 8).
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
    @CsvSource({"llama, resident", "llama, cpu", "gemma2, resident"})
    void aCopiedPrefixGivesTheLogitsOfComputingIt(String kind, String placement) {
        Path file = tmp.resolve(kind + ".gguf");
        if (!file.toFile().exists()) {
            SyntheticModelWriter.write(kind.equals("gemma2")
                    ? SyntheticModelSpec.tinyGemma(Architecture.GEMMA2, QuantPreset.F32, 8)
                    : SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), file);
        }
        try (Model model = Model.load(file)) {
            OffloadOptions options = OffloadOptions.DEFAULTS;
            if (placement.equals("cpu")) {
                try (TieredForwardPass probe = Passes.on(gpu, model, CONTEXT, CHUNK, options)) {
                    options = options.withGpuMemoryBudget(probe.plan().residentBytes() / 2).withPlacement("cpu");
                }
            }
            try (TieredForwardPass pass = Passes.on(gpu, model, CONTEXT, CHUNK, options)) {
                // the rows after the prefix one token at a time: decode steps, their graphs, the CPU blocks' hand-off
                PrefixCopyCheck.assertCopiedPrefixGivesTheComputedLogits(pass, CONTEXT, CHUNK, SHARED, 1, 1e-3,
                        kind + " " + placement);
            }
        }
    }
}

package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.TieredForwardPass;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link KvCache#copyPrefix} on the GPU: a prompt prefix copied from another sequence's cache gives the logits of
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
                int vocab = model.config().vocabularySize();
                int[] donorTokens = new SplittableRandom(1).ints(60, 3, vocab).toArray();
                int[] prompt = new SplittableRandom(2).ints(64, 3, vocab).toArray();
                System.arraycopy(donorTokens, 0, prompt, 0, SHARED);
                int tail = prompt.length - SHARED;
                float[][] expected = new float[tail][vocab];
                float[][] copied = new float[tail][vocab];
                float[][] uncopied = new float[tail][vocab];
                try (KvCache reference = pass.newKvCache(CONTEXT);
                     KvCache donor = pass.newKvCache(CONTEXT);
                     KvCache target = pass.newKvCache(CONTEXT);
                     KvCache empty = pass.newKvCache(CONTEXT)) {
                    run(pass, reference, prompt, 0, SHARED, null);
                    run(pass, reference, prompt, SHARED, prompt.length, expected);
                    int computed = (int) Math.min(donorTokens.length, (long) SHARED + donor.maxRewind());
                    run(pass, donor, donorTokens, 0, computed, null);
                    assertTrue(target.canCopyPrefix(donor), kind + " " + placement);
                    target.copyPrefix(donor, SHARED);
                    run(pass, target, prompt, SHARED, prompt.length, copied);
                    run(pass, empty, prompt, SHARED, prompt.length, uncopied);
                }
                double err = maxRelativeError(copied, expected);
                assertTrue(err < 1e-3, kind + " " + placement + ": copied prefix, logits off by " + err);
                assertTrue(maxRelativeError(uncopied, expected) > 1e-2, "the prefix matters to these logits");
            }
        }
    }

    /** Runs {@code tokens[from, to)}: the prefix in chunks, the rest one token at a time (decode steps and graphs). */
    private static void run(TieredForwardPass pass, KvCache cache, int[] tokens, int from, int to, float[][] out) {
        float[] logits = new float[pass.config().vocabularySize()];
        for (int p = from; p < to; ) {
            int n = out == null ? Math.min(CHUNK, to - p) : 1;
            pass.forward(cache, tokens, p, n, p, logits);
            p += n;
            if (out != null) {
                out[p - 1 - from] = Arrays.copyOf(logits, logits.length);
            }
        }
    }

    private static double maxRelativeError(float[][] ours, float[][] ref) {
        double worst = 0;
        for (int t = 0; t < ref.length; t++) {
            double diff = 0;
            double norm = 0;
            for (int i = 0; i < ref[t].length; i++) {
                diff = Math.max(diff, Math.abs(ours[t][i] - ref[t][i]));
                norm = Math.max(norm, Math.abs(ref[t][i]));
            }
            worst = Math.max(worst, diff / Math.max(norm, 1e-6));
        }
        return worst;
    }
}

package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The batched prefill path (matrix–matrix) and the decode path (one token at a time) agree. */
class CpuBatchedPrefillTest {

    @TempDir
    Path dir;

    @Test
    void chunkedPrefillMatchesTokenByTokenDecode() {
        Path file = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), file);
        try (Model model = Model.load(file)) {
            int vocab = model.config().vocabularySize();
            int n = 23;
            int[] tokens = new int[n];
            SplittableRandom random = new SplittableRandom(3);
            for (int i = 0; i < n; i++) {
                tokens[i] = random.nextInt(vocab);
            }
            float[] single = run(model, 1, 64, tokens);
            for (int threads : new int[] {1, 2, 3}) {
                for (int chunk : new int[] {5, 8, 23}) {
                    float[] batched = run(model, threads, chunk, tokens);
                    double maxDiff = 0;
                    double maxAbs = 0;
                    for (int i = 0; i < vocab; i++) {
                        maxDiff = Math.max(maxDiff, Math.abs(batched[i] - single[i]));
                        maxAbs = Math.max(maxAbs, Math.abs(single[i]));
                    }
                    assertTrue(maxDiff <= 1e-4 * Math.max(1, maxAbs), "threads " + threads + " chunk " + chunk
                            + ": logits differ by " + maxDiff + " (max |logit| " + maxAbs + ")");
                }
            }
        }
    }

    private static float[] run(Model model, int threads, int chunk, int[] tokens) {
        try (ForwardPass pass = new CpuBackend(threads).prepare(model, 64, chunk);
             KvCache cache = pass.newKvCache(64)) {
            float[] logits = new float[model.config().vocabularySize()];
            for (int pos = 0; pos < tokens.length; pos += chunk) {
                pass.forward(cache, tokens, pos, Math.min(chunk, tokens.length - pos), pos, logits);
            }
            return logits;
        }
    }
}

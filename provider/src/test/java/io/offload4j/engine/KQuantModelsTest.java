package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.model.Model;
import io.offload4j.testing.SharedData;
import java.util.Arrays;
import java.util.Locale;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * The llama.cpp-quantized files of shared/models/kquant (same random weights in six formats) run,
 * and their logits stay close to the F16 file's.
 *
 * <p>Tolerances: a format's own weight error (RMS, relative to the weights' RMS) is about
 * Q8_0 0.4 %, Q6_K 1.6 %, Q5_K 3 %, Q4_K 6 %, Q4_0 7 % for these uniform random weights, and this
 * random two-block network amplifies weight noise about 3–4× into the logits: measured relative RMS
 * logit errors are Q8_0 1.5 %, Q6_K 5.5 %, Q5_K_M 9 %, Q4_K_M 17 %, Q4_0 20.5 %. The bounds are
 * about 1.5× those, tight enough that a wrong scale, a swapped nibble or a mis-decoded sub-block
 * (errors of 50 % and more) fails. That each file computes exactly what its quantized weights say is
 * checked separately, against a double-precision reference ({@code CpuForwardPassTest}).
 */
class KQuantModelsTest {

    private static final int[] TOKENS = {1, 403, 407, 261, 378, 292, 400, 339, 284, 7, 17, 100};

    private static float[] logits(String file) {
        try (Model m = Model.load(SharedData.require("models/kquant/" + file));
             ForwardPass pass = new CpuBackend(2).prepare(m, 64, 8);
             KvCache cache = pass.newKvCache(64)) {
            float[] logits = new float[m.config().vocabularySize()];
            for (int pos = 0; pos < TOKENS.length; pos += 8) {
                pass.forward(cache, TOKENS, pos, Math.min(8, TOKENS.length - pos), pos, logits);
            }
            return logits;
        }
    }

    static double relativeRms(float[] a, float[] reference) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - reference[i]) * (double) (a[i] - reference[i]);
            den += reference[i] * (double) reference[i];
        }
        return Math.sqrt(num / den);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"kquant-Q8_0.gguf, 0.025", "kquant-Q6_K.gguf, 0.085", "kquant-Q5_K_M.gguf, 0.14",
        "kquant-Q4_K_M.gguf, 0.26", "kquant-Q4_0.gguf, 0.31"})
    void quantizedLogitsStayCloseToF16(String file, double tolerance) {
        float[] reference = logits("kquant-F16.gguf");
        float[] quantized = logits(file);
        double err = relativeRms(quantized, reference);
        System.out.printf(Locale.ROOT, "%s: relative RMS logit error vs F16 = %.4f (bound %.2f)%n", file, err, tolerance);
        assertTrue(err < tolerance, file + ": relative RMS error " + err + " exceeds " + tolerance);
    }

    @Test
    void f16AndQ8_0GreedyOutputsAgreeForTheFirstTokens() {
        int[] f16 = greedy("kquant-F16.gguf", 8);
        int[] q8 = greedy("kquant-Q8_0.gguf", 8);
        assertArrayEquals(f16, q8, "F16 " + Arrays.toString(f16) + " vs Q8_0 " + Arrays.toString(q8));
    }

    private static int[] greedy(String file, int n) {
        try (InferenceEngine e = InferenceEngine.load(SharedData.require("models/kquant/" + file),
                EngineOptions.DEFAULTS.withDevice("cpu"))) {
            return e.generate(GenerationRequest.of(TOKENS, n, SamplingParams.GREEDY), GenerationListener.NONE).tokens();
        }
    }
}

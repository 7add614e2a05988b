package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;
import io.offload4j.testing.SharedData;
import org.junit.jupiter.api.io.TempDir;

class CpuForwardPassTest {

    private static final int[] TOKENS = {1, 300, 17, 42, 511, 260, 5, 99, 400, 3, 77};

    @TempDir
    Path dir;

    private Path model(Architecture arch, boolean tied) {
        Path p = dir.resolve(arch + ".gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(arch, QuantPreset.F32).withTiedEmbeddings(tied), p);
        return p;
    }

    /** Largest |a-b| relative to the largest |b|. */
    private static double relativeError(float[] a, double[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void matchesTheNaiveReferenceForEveryArchitecture(Architecture arch) {
        try (Model m = Model.load(model(arch, arch == Architecture.QWEN2));
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 4);
             KvCache cache = pass.newKvCache(32)) {
            float[] logits = new float[m.config().vocabularySize()];
            // Chunks of 4: 4 + 4 + 3 tokens, so both the batched and the single-token path run.
            for (int pos = 0; pos < TOKENS.length; pos += 4) {
                pass.forward(cache, TOKENS, pos, Math.min(4, TOKENS.length - pos), pos, logits);
            }
            double[] reference = new ReferenceTransformer(m, 32).logits(TOKENS);
            double err = relativeError(logits, reference);
            // float32 accumulation over rows of 256–512 elements against double precision.
            assertTrue(err < 1e-4, arch + ": relative error " + err);
        }
    }

    /**
     * Phi-3's LongRoPE: a pass prepared for more than the pre-training context (the synthetic phi3's is 128 of 512)
     * rotates with the long factors and one within it with the short ones, each as the reference does; and the two
     * differ, so the choice is really made.
     */
    @org.junit.jupiter.api.Test
    void phi3PicksLongRopeFactorsByTheContextItIsPreparedFor() {
        try (Model m = Model.load(model(Architecture.PHI3, false))) {
            assertEquals(128, m.weights().longRope().originalContext());
            float[] shortCtx = logits(m, 128);
            float[] longCtx = logits(m, 129);
            assertTrue(relativeError(shortCtx, new ReferenceTransformer(m, 128).logits(TOKENS)) < 1e-4);
            assertTrue(relativeError(longCtx, new ReferenceTransformer(m, 129).logits(TOKENS)) < 1e-4);
            double[] asDouble = new double[longCtx.length];
            for (int i = 0; i < asDouble.length; i++) {
                asDouble[i] = longCtx[i];
            }
            assertTrue(relativeError(shortCtx, asDouble) > 1e-3, "short and long factors gave the same logits");
        }
    }

    /** A Mistral-Nemo-shaped llama (head dimension not width / heads) against the reference. */
    @org.junit.jupiter.params.ParameterizedTest
    @ValueSource(strings = {"F32", "Q8_0", "Q4_K_M"})
    void mistralShapedLlamaMatchesTheReference(String quant) {
        Path p = dir.resolve("mistral-" + quant + ".gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tinyMistral(QuantPreset.parse(quant)), p);
        try (Model m = Model.load(p)) {
            assertEquals(64, m.config().headDim());
            assertEquals(256, m.config().queryDim());
            float[] logits = logits(m, 32);
            double err = relativeError(logits, new ReferenceTransformer(m, 32).logits(TOKENS));
            assertTrue(err < 1e-4, quant + ": relative error " + err);
        }
    }

    private static float[] logits(Model m, int context) {
        try (ForwardPass pass = new CpuBackend(2).prepare(m, context, 4);
             KvCache cache = pass.newKvCache(context)) {
            float[] logits = new float[m.config().vocabularySize()];
            for (int pos = 0; pos < TOKENS.length; pos += 4) {
                pass.forward(cache, TOKENS, pos, Math.min(4, TOKENS.length - pos), pos, logits);
            }
            return logits;
        }
    }

    /**
     * Each llama.cpp-quantized file computes what its weights say: the optimised pass (Vector API
     * fused dot products, batched prefill) against the double-precision reference, which decodes
     * with the scalar kernels that match ggml's reference dequantization.
     */
    @ParameterizedTest
    @ValueSource(strings = {"F16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"})
    void quantizedFilesMatchTheReferenceOnTheirOwnWeights(String format) {
        Path file = SharedData.require("models/kquant/kquant-" + format + ".gguf");
        try (Model m = Model.load(file);
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 4);
             KvCache cache = pass.newKvCache(32)) {
            float[] logits = new float[m.config().vocabularySize()];
            for (int pos = 0; pos < TOKENS.length; pos += 4) {
                pass.forward(cache, TOKENS, pos, Math.min(4, TOKENS.length - pos), pos, logits);
            }
            double err = relativeError(logits, new ReferenceTransformer(m, 32).logits(TOKENS));
            assertTrue(err < 1e-4, format + ": relative error " + err);
        }
    }

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void chunkedPrefillEqualsTokenByTokenDecode(Architecture arch) {
        try (Model m = Model.load(model(arch, false));
             ForwardPass pass = new CpuBackend(2).prepare(m, 32, 16)) {
            int vocab = m.config().vocabularySize();
            float[] chunked = new float[vocab];
            float[] stepwise = new float[vocab];
            try (KvCache a = pass.newKvCache(32); KvCache b = pass.newKvCache(32)) {
                pass.forward(a, TOKENS, 0, TOKENS.length, 0, chunked);
                for (int pos = 0; pos < TOKENS.length; pos++) {
                    pass.forward(b, TOKENS, pos, 1, pos, stepwise);
                }
            }
            for (int i = 0; i < vocab; i++) {
                assertEquals(stepwise[i], chunked[i], 1e-4f * Math.max(1, Math.abs(stepwise[i])), "logit " + i);
            }
        }
    }
}

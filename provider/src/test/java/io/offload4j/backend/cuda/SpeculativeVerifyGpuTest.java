package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.Placement;
import io.offload4j.offload.PlacementPlan;
import io.offload4j.offload.TieredForwardPass;
import io.offload4j.testing.MixedStepCheck;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The verification pass of speculative decoding on the GPU: {@code forwardAll} (every row's logits of a chunk of one
 * sequence) against a one-token decode per row, on OffloadGpuTest's 32-block model resident, streamed and with blocks
 * on the CPU; and the rollback: after a verification whose tail is rejected, decoding goes on at the first rejected
 * position (its KV rows, on the GPU and in the CPU mirror of the hybrid plan, overwritten) exactly as a sequence that
 * never saw the rejected tokens. Chunks of 2 rows take the matrix-vector kernels (Q8_0: on 8-bit activations, as the
 * one-token decode does; F16: fp32), 5, 9 and 17 the tensor cores
 * (from {@link AcceleratorOptions#DEFAULT_GEMM_MIN_TOKENS} rows: fp16 operands, so the GEMM tolerance).
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class SpeculativeVerifyGpuTest {

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();

    @TempDir
    static Path tmp;

    @ParameterizedTest(name = "{0}, placement {1}, budget {2} of the weights")
    @CsvSource({"Q8_0, stream, 1.0", "Q8_0, stream, 0.3", "F16, stream, 0.25", "Q8_0, auto, 0.4", "F16, cpu, 0.5"})
    void everyRowEqualsAOneTokenDecodeAndRejectedRowsAreOverwritten(QuantPreset quant, String placement,
                                                                    double fraction) {
        try (Model model = Model.load(OffloadGpuTest.model(tmp, quant))) {
            try (TieredForwardPass pass = budgeted(model, placement, fraction)) {
                PlacementPlan plan = pass.plan();
                if (placement.equals("cpu")) {
                    assertTrue(plan.count(Placement.CPU) > 0, plan.toString());
                }
                double worst = 0;
                for (int count : new int[] {2, 5, 9, 17}) {
                    for (int accepted : new int[] {0, count / 2, count - 1}) {
                        worst = Math.max(worst, compare(model, pass, count, accepted));
                    }
                }
                GpuTests.report(String.format("speculative verification %s placement %s budget %.0f%% (%d resident /"
                        + " %d streamed / %d CPU units): forwardAll rows and the decode after a rollback vs one-token"
                        + " decode, max relative difference %.2e", quant, placement, fraction * 100,
                        plan.count(Placement.RESIDENT), plan.count(Placement.STREAMED), plan.count(Placement.CPU),
                        worst));
            }
        }
    }

    /**
     * A mixed step on the GPU (forwardBatch with several rows of one sequence beside other sequences' rows: how the
     * engine verifies drafts inside the shared step): every row's logits against one-token decode steps of its sequence
     * alone, resident (the batched step as a CUDA graph), streamed, and with blocks on the CPU (the batch's rows handed
     * down to the CPU's caches). 3-row steps take the matrix-vector kernels (Q8_0: 8-bit activations); 6 and 19 rows
     * the tensor cores.
     */
    @ParameterizedTest(name = "{0}, placement {1}, budget {2} of the weights")
    @CsvSource({"Q8_0, stream, 1.0", "Q8_0, stream, 0.3", "F16, cpu, 0.5"})
    void aMixedStepGivesEachRowTheLogitsOfItsSequenceAlone(QuantPreset quant, String placement, double fraction) {
        try (Model model = Model.load(OffloadGpuTest.model(tmp, quant))) {
            try (TieredForwardPass pass = budgeted(model, placement, fraction)) {
                double small = MixedStepCheck.worstDifference(pass, 64, new int[] {2, 1}, new int[] {1, 2});
                double large = Math.max(
                        MixedStepCheck.worstDifference(pass, 64, new int[] {3, 1, 2}, new int[] {1, 4, 1}),
                        MixedStepCheck.worstDifference(pass, 64, new int[] {4, 4, 4, 4, 1, 1, 1},
                                new int[] {2, 4, 4, 4, 4, 1, 1}));
                // with CPU blocks the one-token reference computes them on the CPU (fp32 keys and values) while a
                // batch of several sequences streams them to the GPU (fp16 KV cache): two devices, the GEMM's bound
                double tolSmall = pass.plan().count(Placement.CPU) > 0 ? CudaForwardPassGpuTest.TOL_GEMM
                        : CudaForwardPassGpuTest.tolFp32(model);
                GpuTests.report(String.format("mixed step %s placement %s budget %.0f%% (%s): 3 rows %.2e (tolerance"
                        + " %.0e), 6 and 19 rows %.2e (tolerance %.0e)", quant, placement, fraction * 100,
                        pass.plan(), small, tolSmall, large, CudaForwardPassGpuTest.TOL_GEMM));
                assertTrue(small <= tolSmall, "3-row mixed steps: " + small);
                assertTrue(large <= CudaForwardPassGpuTest.TOL_GEMM, "6- and 19-row mixed steps: " + large);
            }
        }
    }

    /**
     * Verification passes of 2–4 rows, and of 5–8 rows with the tensor-core GEMM moved out of their way, on the
     * multi-token 8-bit-activation kernels ({@link CudaInt8Kernels#TOKENS_PROPERTY} = 8 for this pass), resident: every
     * row's logits against a one-token decode, which multiplies 8-bit activations too. Each row's projections then
     * sum as a single-token launch's do, so only attention's order of summation differs, and the fp32 bound
     * ({@link CudaForwardPassGpuTest#TOL_FP32}) holds where float multi-token steps against 8-bit one-token decode need
     * {@link CudaForwardPassGpuTest#TOL_INT8}; a token reading another token's quantized row would miss both.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"Q8_0", "Q4_K_M"})
    void multiTokenInt8RowsEqualOneTokenDecode(QuantPreset quant) {
        String before = System.getProperty(CudaInt8Kernels.TOKENS_PROPERTY);
        TieredForwardPass pass;
        try (Model model = Model.load(OffloadGpuTest.model(tmp, quant))) {
            System.setProperty(CudaInt8Kernels.TOKENS_PROPERTY, Integer.toString(CudaInt8Kernels.MAX_STEP_TOKENS));
            try {
                pass = Passes.on(gpu.backend(), model, 64, 32,
                        OffloadOptions.DEFAULTS.withGemmMinTokens(CudaInt8Kernels.MAX_STEP_TOKENS + 1));
            } finally {
                if (before == null) {
                    System.clearProperty(CudaInt8Kernels.TOKENS_PROPERTY);
                } else {
                    System.setProperty(CudaInt8Kernels.TOKENS_PROPERTY, before);
                }
            }
            try (pass) {
                double worst = 0;
                for (int count = 2; count <= CudaInt8Kernels.MAX_STEP_TOKENS; count++) {
                    worst = Math.max(worst, compare(model, pass, count, count - 1, CudaForwardPassGpuTest.TOL_FP32));
                }
                GpuTests.report(String.format("8-bit multi-token verification %s resident, 2-8 rows: rows and the"
                        + " decode after them vs one-token decode, max relative difference %.2e (bound %.0e)", quant,
                        worst, CudaForwardPassGpuTest.TOL_FP32));
            }
        }
    }

    /** A pass of {@code model} (context 64, chunk 32) with {@code fraction} of its weights' bytes on the GPU. */
    private static TieredForwardPass budgeted(Model model, String placement, double fraction) {
        long total;
        try (TieredForwardPass resident = Passes.on(gpu.backend(), model, 64, 32, OffloadOptions.DEFAULTS)) {
            total = resident.plan().residentBytes();
        }
        OffloadOptions options = fraction >= 1 ? OffloadOptions.DEFAULTS
                : OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (fraction * total)).withPlacement(placement);
        return Passes.on(gpu.backend(), model, 64, 32, options);
    }

    /**
     * The engine on the GPU: stories260K resident and with 70 % of its weights on the GPU (blocks streamed, or on the
     * CPU at decode), prompt lookup and the model as its own draft model (a second model on the GPU, wholly resident,
     * prepared before the target): four concurrent requests give the greedy tokens of decoding without a drafter.
     */
    @ParameterizedTest(name = "budget {0}, placement {1}, draft model {2}")
    @CsvSource({"1.0, auto, false", "1.0, auto, true", "0.7, stream, false", "0.7, auto, false", "0.7, auto, true"})
    void speculativeEngineGivesTheGreedyTokensOfPlainDecoding(double fraction, String placement, boolean draftModel) {
        java.nio.file.Path stories = io.offload4j.testing.SharedData.require("models/stories260K.gguf");
        long total;
        try (Model model = Model.load(stories); TieredForwardPass probe = Passes.on(gpu.backend(), model, 64, 16,
                OffloadOptions.DEFAULTS)) {
            total = probe.plan().residentBytes();
        }
        OffloadOptions offload = fraction >= 1 ? OffloadOptions.DEFAULTS : OffloadOptions.DEFAULTS
                .withGpuMemoryBudget((long) (fraction * total)).withPrefetchDepth(1).withPlacement(placement);
        io.offload4j.engine.EngineOptions plain = io.offload4j.engine.EngineOptions.DEFAULTS.withDevice("cuda")
                .withContextLength(256).withContextBeyondTraining(true).withPrefixCacheBytes(0).withOffload(offload);
        io.offload4j.engine.speculative.SpeculativeOptions speculative = draftModel
                ? io.offload4j.engine.speculative.SpeculativeOptions.draftModel(stories).withMaxDraftTokens(8)
                : io.offload4j.engine.speculative.SpeculativeOptions.promptLookupDefaults().withMaxDraftTokens(8);
        String[] prompts = {"Once upon a time", "The cat sat. The cat sat. The", "Lily and Ben went",
                "One day, a little bird"};
        java.util.List<int[]> want = generate(stories, plain, prompts);
        long[] stats = new long[2];
        java.util.List<int[]> got = generate(stories, plain.withSpeculative(speculative), prompts, stats);
        for (int i = 0; i < prompts.length; i++) {
            org.junit.jupiter.api.Assertions.assertArrayEquals(want.get(i), got.get(i), "request " + i);
        }
        assertTrue(stats[1] > 0, "drafts accepted: " + stats[1] + " of " + stats[0]);
        GpuTests.report(String.format("speculative engine on the GPU, stories260K budget %.0f%% %s, %s: greedy tokens"
                + " = plain decoding; accepted %d of %d drafts", fraction * 100, placement,
                draftModel ? "draft model" : "prompt lookup", stats[1], stats[0]));
    }

    private static java.util.List<int[]> generate(java.nio.file.Path model, io.offload4j.engine.EngineOptions options,
                                                  String[] prompts, long... stats) {
        try (io.offload4j.engine.InferenceEngine e = io.offload4j.engine.InferenceEngine.load(model, options)) {
            java.util.List<io.offload4j.engine.Generation> all = new java.util.ArrayList<>();
            for (String p : prompts) {
                all.add(e.submit(io.offload4j.engine.GenerationRequest.of(e.tokenizer().encode(p, true, false), 60,
                        io.offload4j.engine.SamplingParams.GREEDY), io.offload4j.engine.GenerationListener.NONE));
            }
            java.util.List<int[]> out = new java.util.ArrayList<>();
            for (io.offload4j.engine.Generation g : all) {
                out.add(g.join().tokens());
            }
            if (stats.length == 2) {
                stats[0] = e.stats().draftedTokens();
                stats[1] = e.stats().acceptedDraftTokens();
            }
            return out;
        }
    }

    /**
     * Two copies of one prompt: A verifies {@code count} tokens in one pass, B decodes the first
     * {@code accepted + 1} of them one by one (rows compared); then both decode greedily from the first rejected
     * position on (logits compared): A's cache still held rejected rows there.
     */
    private static double compare(Model model, TieredForwardPass pass, int count, int accepted) {
        return compare(model, pass, count, accepted, count >= AcceleratorOptions.DEFAULT_GEMM_MIN_TOKENS
                ? CudaForwardPassGpuTest.TOL_GEMM : CudaForwardPassGpuTest.tolFp32(model));
    }

    /** {@link #compare(Model, TieredForwardPass, int, int)} within {@code tol}. */
    private static double compare(Model model, TieredForwardPass pass, int count, int accepted, double tol) {
        int vocab = model.config().vocabularySize();
        SplittableRandom rnd = new SplittableRandom(count * 131L + accepted);
        int length = 10;
        int[] prompt = rnd.ints(length, 0, vocab).toArray();
        int[] chunk = rnd.ints(count, 0, vocab).toArray();
        float[][] all = new float[count][vocab];
        float[] single = new float[vocab];
        float[] verified = new float[vocab];
        String what = "k+1 = " + count + ", accepted " + accepted;
        double worst = 0;
        try (KvCache a = pass.newKvCache(64); KvCache b = pass.newKvCache(64)) {
            pass.forward(a, prompt, 0, length, 0, single);
            pass.forward(b, prompt, 0, length, 0, single);
            pass.forwardAll(a, chunk, 0, count, length, all);
            for (int t = 0; t <= accepted; t++) {
                pass.forward(b, chunk, t, 1, length + t, single);
                double err = OffloadGpuTest.relErr(all[t], single);
                assertTrue(err <= tol, what + ", row " + t + ": " + err);
                worst = Math.max(worst, err);
            }
            int[] next = {(chunk[Math.min(accepted + 1, count - 1)] + 1) % vocab};
            int pos = length + accepted + 1;
            for (int step = 0; step < 4; step++, pos++) {
                pass.forward(a, next, 0, 1, pos, verified);
                pass.forward(b, next, 0, 1, pos, single);
                double err = OffloadGpuTest.relErr(verified, single);
                assertTrue(err <= tol, what + ", decode step " + step + " after the rollback: " + err);
                worst = Math.max(worst, err);
                next[0] = OffloadGpuTest.argmax(single);
            }
        }
        return worst;
    }
}

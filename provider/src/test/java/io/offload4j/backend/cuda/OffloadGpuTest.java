package io.offload4j.backend.cuda;

import io.offload4j.offload.TieredForwardPass;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.AcceleratorOptions;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.PrefixCopyCheck;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.OffloadStats;
import io.offload4j.offload.Placement;
import io.offload4j.offload.PlacementPlan;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Offloading on the real GPU: a 32-block model run with GPU budgets from all of it down to a tenth, every logit
 * compared with the fully resident run (the same kernels, so equal to rounding), prompt chunks on both the
 * tensor-core and the matrix-vector path, single and batched decode; plus the steady-state cache numbers, the
 * errors for budgets that cannot work, and prompt prefixes copied between KV caches.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class OffloadGpuTest {

    /** Same kernels, same inputs: any difference is a placement bug, not rounding. */
    static final double TOL_SAME = 1e-6;

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();

    @TempDir
    static Path tmp;

    static Path model(QuantPreset q) {
        return model(tmp, q);
    }

    /** The 32-block test model in {@code dir} (another class's own temporary folder: this class's exists only while it runs). */
    static Path model(Path dir, QuantPreset q) {
        Path p = dir.resolve("offload-" + q + ".gguf");
        if (!p.toFile().exists()) {
            SyntheticModelWriter.write(new SyntheticModelSpec("offload-test", Architecture.LLAMA, 256, 32, 512, 8, 4,
                    32, 512, 256, q, false, 7), p);
        }
        return p;
    }

    /** Everything a run computes: the prompt's logits, greedy decode steps, then a batch of four for a few steps. */
    static List<float[]> run(ForwardPass pass, int vocab) {
        List<float[]> out = new ArrayList<>();
        SplittableRandom rnd = new SplittableRandom(11);
        int[] prompt = new int[20]; // ≥ 16 tokens: the tensor-core path
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = rnd.nextInt(vocab);
        }
        try (KvCache cache = pass.newKvCache(64)) {
            float[] logits = new float[vocab];
            pass.forward(cache, prompt, 0, prompt.length, 0, logits);
            out.add(logits.clone());
            int[] history = new int[64];
            for (int t = 0; t < 6; t++) {
                history[prompt.length + t] = argmax(logits);
                pass.forward(cache, history, prompt.length + t, 1, prompt.length + t, logits);
                out.add(logits.clone());
            }
            // a second prompt chunk continuing the sequence (a follow-up turn) attends to the decoded positions,
            // then decode goes on after it
            int at = prompt.length + 6;
            for (int i = 0; i < 5; i++) {
                history[at + i] = rnd.nextInt(vocab);
            }
            pass.forward(cache, history, at, 5, at, logits);
            out.add(logits.clone());
            for (int t = 0; t < 2; t++) {
                history[at + 5 + t] = argmax(logits);
                pass.forward(cache, history, at + 5 + t, 1, at + 5 + t, logits);
                out.add(logits.clone());
            }
        }
        int batch = 4;
        KvCache[] caches = new KvCache[batch];
        int[] positions = new int[batch];
        int[] tokens = new int[batch];
        float[][] logits = new float[batch][vocab];
        try {
            for (int b = 0; b < batch; b++) {
                caches[b] = pass.newKvCache(64);
                int[] p = new int[3 + 2 * b]; // different lengths: different positions in one batch (matvec path)
                for (int i = 0; i < p.length; i++) {
                    p[i] = rnd.nextInt(vocab);
                }
                pass.forward(caches[b], p, 0, p.length, 0, logits[b]);
                positions[b] = p.length;
            }
            for (int step = 0; step < 3; step++) {
                for (int b = 0; b < batch; b++) {
                    tokens[b] = argmax(logits[b]);
                }
                pass.forwardBatch(caches, tokens, positions, batch, logits);
                for (int b = 0; b < batch; b++) {
                    out.add(logits[b].clone());
                    positions[b]++;
                }
            }
            // and one sequence of the batch on its own again
            tokens[0] = argmax(logits[0]);
            pass.forward(caches[0], tokens, 0, 1, positions[0], logits[0]);
            out.add(logits[0].clone());
        } finally {
            for (KvCache c : caches) {
                if (c != null) {
                    c.close();
                }
            }
        }
        return out;
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    @ParameterizedTest(name = "{0}, budget {1} of the weights, prefetch depth {2}")
    @CsvSource({"F16, 1.0, 2", "F16, 0.5, 2", "F16, 0.25, 2", "F16, 0.1, 2", "Q4_K_M, 0.5, 1", "Q4_K_M, 0.25, 3",
            "Q8_0, 0.3, 2", "Q2_K, 0.4, 2", "Q3_K_M, 0.3, 2", "IQ4_XS, 0.5, 2", "Q5_0, 0.3, 1"})
    void offloadedLogitsEqualTheResidentRun(QuantPreset quant, double fraction, int depth) {
        try (Model model = Model.load(model(quant))) {
            int vocab = model.config().vocabularySize();
            List<float[]> want;
            long total;
            try (TieredForwardPass resident = Passes.on(gpu.backend(), model, 64, 32, OffloadOptions.DEFAULTS)) {
                assertTrue((resident).plan().allResident());
                total = (resident).plan().residentBytes();
                want = run(resident, vocab);
            }
            long budget = (long) (fraction * total);
            OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(budget).withPrefetchDepth(depth)
                    .withPlacement("stream");
            try (TieredForwardPass offloaded = Passes.on(gpu.backend(), model, 64, 32, options)) {
                PlacementPlan plan = (offloaded).plan();
                assertTrue(plan.gpuBytes() <= budget, plan.toString());
                if (fraction < 1) {
                    assertTrue(plan.count(Placement.STREAMED) > 0, plan.toString());
                }
                List<float[]> got = run(offloaded, vocab);
                double worst = 0;
                for (int i = 0; i < want.size(); i++) {
                    worst = Math.max(worst, relErr(got.get(i), want.get(i)));
                }
                GpuTests.report(String.format("offload %s budget %.0f%% depth %d: %d resident / %d streamed units,"
                        + " max logit difference to the resident run %.2e", quant, fraction * 100, depth,
                        plan.count(Placement.RESIDENT), plan.count(Placement.STREAMED), worst));
                assertTrue(worst <= TOL_SAME, "max relative logit difference " + worst);

                OffloadStats stats = offloaded.offloadStats();
                int units = plan.placements().length;
                assertEquals(plan.count(Placement.RESIDENT) / (double) units, stats.hitRate(), 1e-9, stats.toString());
                assertEquals(stats.steps() * plan.streamedBytesPerStep(), stats.bytesStreamed(), stats.toString());
                assertEquals(0, stats.cacheEvictions());
            }
        }
    }

    /**
     * Two batch steps against each sequence run alone: 4 sequences take the matrix-vector kernels (fp32 activations),
     * 20, 40 and 64 the small-batch GEMM (fp16 operands; two, four and four row tiles), so the tolerances are
     * CudaForwardPassGpuTest's. Resident, the first step of a size captures a graph and the second replays it with
     * every sequence one position further (the positions and caches are the step's staged tables, not the graph's).
     */
    @ParameterizedTest(name = "batch of {0}, streamed: {1}")
    @CsvSource({"4, false", "20, false", "64, false", "4, true", "20, true", "40, true"})
    void batchedDecodeEqualsEachSequenceAlone(int batch, boolean streamed) {
        batchedAgainstAlone(model(QuantPreset.Q8_0), batch, streamed, 1, 3);
    }

    /**
     * The same with an output head four times a block (8192 × 256 against 4 blocks of 256 × 512 FFNs), so it is cut
     * into head-slice units: each slice's rows of a batch's logits come from the small GEMM into scratch and a strided
     * copy into the logits (before session 11 such slices took the matrix-vector kernels, 2 rows a launch).
     */
    @ParameterizedTest(name = "batch of {0}, streamed: {1}")
    @CsvSource({"20, false", "64, false", "40, true"})
    void batchedDecodeWithASlicedHeadEqualsEachSequenceAlone(int batch, boolean streamed) {
        Path p = tmp.resolve("offload-wide-head.gguf");
        if (!p.toFile().exists()) {
            SyntheticModelWriter.write(new SyntheticModelSpec("offload-wide-head", Architecture.LLAMA, 256, 4, 512, 8,
                    4, 32, 8192, 256, QuantPreset.Q8_0, false, 5), p);
        }
        batchedAgainstAlone(p, batch, streamed, 3, 2); // a third is less than a ring of 3 blocks
    }

    /** Streamed: a budget of the resident bytes / {@code budgetDivisor}. */
    private void batchedAgainstAlone(Path file, int batch, boolean streamed, int minHeadSlices, int budgetDivisor) {
        try (Model model = Model.load(file)) {
            int vocab = model.config().vocabularySize();
            OffloadOptions options = OffloadOptions.DEFAULTS;
            if (streamed) {
                try (TieredForwardPass probe = Passes.on(gpu.backend(), model, 64, 32, options)) {
                    options = options.withGpuMemoryBudget((probe).plan().residentBytes() / budgetDivisor)
                            .withPlacement("stream");
                }
            }
            try (TieredForwardPass pass = Passes.on(gpu.backend(), model, 64, 32, options)) {
                int slices = pass.plan().placements().length - model.config().blockCount();
                assertTrue(slices >= minHeadSlices, slices + " head slices");
                SplittableRandom rnd = new SplittableRandom(batch);
                KvCache[] caches = new KvCache[batch];
                KvCache[] alone = new KvCache[batch];
                int[] tokens = new int[batch];
                int[] positions = new int[batch];
                float[][] batched = new float[batch][vocab];
                float[] single = new float[vocab];
                try {
                    for (int b = 0; b < batch; b++) {
                        int[] p = new int[1 + rnd.nextInt(9)];
                        for (int i = 0; i < p.length; i++) {
                            p[i] = rnd.nextInt(vocab);
                        }
                        caches[b] = pass.newKvCache(64);
                        alone[b] = pass.newKvCache(64);
                        pass.forward(caches[b], p, 0, p.length, 0, single);
                        pass.forward(alone[b], p, 0, p.length, 0, single);
                        positions[b] = p.length;
                        tokens[b] = rnd.nextInt(vocab);
                    }
                    double tol = batch >= AcceleratorOptions.DEFAULT_GEMM_MIN_TOKENS ? CudaForwardPassGpuTest.TOL_GEMM
                            : CudaForwardPassGpuTest.tolFp32(model);
                    double worst = 0;
                    for (int round = 0; round < 2; round++) {
                        pass.forwardBatch(caches, tokens, positions, batch, batched);
                        for (int b = 0; b < batch; b++) {
                            pass.forward(alone[b], tokens, b, 1, positions[b], single);
                            worst = Math.max(worst, relErr(batched[b], single));
                        }
                        for (int b = 0; b < batch; b++) {
                            tokens[b] = argmax(batched[b]);
                            positions[b]++;
                        }
                    }
                    GpuTests.report(String.format("batched decode of %d (streamed %s, %d head slices) vs alone: %.2e"
                            + " (tolerance %.0e)", batch, streamed, slices, worst, tol));
                    assertTrue(worst <= tol, "batch " + batch + ": " + worst);
                } finally {
                    for (int b = 0; b < batch; b++) {
                        if (caches[b] != null) {
                            caches[b].close();
                        }
                        if (alone[b] != null) {
                            alone[b].close();
                        }
                    }
                }
            }
        }
    }

    /**
     * Blocks computed by the CPU at batch-1 decode (and streamed for prompt chunks and batches): the CPU's kernels
     * differ from the GPU's in summation order, so the logits agree to CudaForwardPassGpuTest's fp32 tolerance; the
     * K/V mirroring between the two caches is what the follow-up chunk and the decode after the batch check.
     */
    @ParameterizedTest(name = "{0}, placement {1}, budget {2} of the weights")
    @CsvSource({"F16, cpu, 0.5", "Q4_K_M, cpu, 0.3", "Q8_0, auto, 0.4", "Q2_K, cpu, 0.3", "IQ4_NL, cpu, 0.4",
            "Q5_1, cpu, 0.4"})
    void blocksComputedOnTheCpuAgreeWithTheResidentRun(QuantPreset quant, String placement, double fraction) {
        try (Model model = Model.load(model(quant))) {
            int vocab = model.config().vocabularySize();
            List<float[]> want;
            long total;
            try (TieredForwardPass resident = Passes.on(gpu.backend(), model, 64, 32, OffloadOptions.DEFAULTS)) {
                total = (resident).plan().residentBytes();
                want = run(resident, vocab);
            }
            OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (fraction * total))
                    .withPlacement(placement);
            try (TieredForwardPass hybrid = Passes.on(gpu.backend(), model, 64, 32, options)) {
                PlacementPlan plan = (hybrid).plan();
                if (placement.equals("cpu")) {
                    assertTrue(plan.count(Placement.CPU) > 0, plan.toString());
                }
                List<float[]> got = run(hybrid, vocab);
                double worst = 0;
                for (int i = 0; i < want.size(); i++) {
                    worst = Math.max(worst, relErr(got.get(i), want.get(i)));
                }
                GpuTests.report(String.format("hybrid %s placement %s budget %.0f%%: %d resident / %d streamed / %d"
                        + " CPU units, max logit difference to the resident run %.2e", quant, placement,
                        fraction * 100, plan.count(Placement.RESIDENT), plan.count(Placement.STREAMED),
                        plan.count(Placement.CPU), worst));
                assertTrue(worst <= CudaForwardPassGpuTest.tolFp32(model), "max relative logit difference " + worst);
                assertTrue(hybrid.memoryReport().contains("CPU"), hybrid.memoryReport());
            }
        }
    }

    /**
     * The whole engine on an offloaded model: stories260K with 70 % of its weights on the GPU, four requests at once
     * (decoded together through forwardBatch by the scheduler) give the same greedy text as each alone.
     */
    /**
     * On the GPU the default max-sequences admits requests by the memory their KV caches need
     * ({@code MemoryAdmission}): the driver's free memory, which admission reads, drops by a cache's bytes when one is
     * made and comes back when it is closed; and an engine (stories260K) with the default options says so in its memory
     * report and serves 4 requests at once with the tokens each gives alone.
     */
    @Test
    void requestsAreAdmittedByTheMemoryTheirKvCachesNeed() {
        long page = 2L << 20; // the driver's allocation granularity
        try (Model model = Model.load(model(QuantPreset.Q8_0));
             TieredForwardPass pass = Passes.on(gpu.backend(), model, 256, 32, OffloadOptions.DEFAULTS)) {
            long before = pass.freeDeviceMemory();
            KvCache cache = pass.newKvCache(256);
            long during = pass.freeDeviceMemory();
            long bytes = cache.byteSize();
            cache.close();
            long after = pass.freeDeviceMemory();
            GpuTests.report(String.format("free device memory around a %d-byte KV cache: %d, %d, %d", bytes, before,
                    during, after));
            assertTrue(before - during >= bytes - page, "a cache's bytes leave the free memory");
            assertTrue(after >= before - page, "and come back when it is closed");
        }
        java.nio.file.Path stories = io.offload4j.testing.SharedData.require("models/stories260K.gguf");
        try (io.offload4j.engine.InferenceEngine e = io.offload4j.engine.InferenceEngine.load(stories,
                io.offload4j.engine.EngineOptions.DEFAULTS.withDevice("cuda"))) {
            assertEquals(64, e.maxSequences(), e.memoryReport());
            assertTrue(e.memoryReport().contains("admitted while the GPU's free memory holds its KV cache"),
                    e.memoryReport());
            // four: a batched step of up to 4 rows multiplies in fp32 like a lone token (from 5, fp16 tensor cores
            // could flip a near-tie between two tokens)
            String[] texts = {"Once upon a time", "The cat", "Lily and Ben went", "One day, a little bird"};
            List<int[]> alone = new ArrayList<>();
            for (String t : texts) {
                alone.add(e.generate(io.offload4j.engine.GenerationRequest.of(e.tokenizer().encode(t, true, false), 40,
                        io.offload4j.engine.SamplingParams.GREEDY), io.offload4j.engine.GenerationListener.NONE)
                        .tokens());
            }
            List<io.offload4j.engine.Generation> together = new ArrayList<>();
            for (String t : texts) {
                together.add(e.submit(io.offload4j.engine.GenerationRequest.of(e.tokenizer().encode(t, true, false), 40,
                        io.offload4j.engine.SamplingParams.GREEDY), io.offload4j.engine.GenerationListener.NONE));
            }
            for (int i = 0; i < texts.length; i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(alone.get(i), together.get(i).join().tokens(),
                        "request " + i);
            }
            GpuTests.report("engine admission by device memory: " + e.memoryReport().lines().reduce((a, b) -> b)
                    .orElse(""));
        }
    }

    /**
     * Requests without max tokens on the GPU with automatic admission: their caches start with the prompt and
     * {@link io.offload4j.engine.InferenceEngine#memoryReport() 256 positions} and grow on the device as they go
     * ({@code CudaKvCache.copyPrefix}, device to device). A random-weight tiny model runs each reply to the end of its
     * 512-position context; the same requests on an engine with a fixed number of sequences (whole caches from the
     * start, no growth) give the same tokens, two at a time in both.
     */
    @Test
    void cachesOfRequestsWithoutMaxTokensGrowOnTheDevice() {
        java.nio.file.Path file = tmp.resolve("growth-tiny.gguf");
        io.offload4j.model.SyntheticModelWriter.write(io.offload4j.model.SyntheticModelSpec.tiny(
                io.offload4j.model.Architecture.LLAMA, QuantPreset.Q8_0), file);
        int[][] prompts = {new java.util.SplittableRandom(70).ints(10, 3, 512).toArray(),
            new java.util.SplittableRandom(71).ints(10, 3, 512).toArray()};
        io.offload4j.engine.EngineOptions options = io.offload4j.engine.EngineOptions.DEFAULTS.withDevice("cuda")
                .withPrefixCacheBytes(0);
        List<int[]> whole = generateTogether(file, options.withMaxSequences(2), prompts, null);
        String[] report = new String[1];
        List<int[]> grown = generateTogether(file, options, prompts, report);
        for (int i = 0; i < prompts.length; i++) {
            assertTrue(whole.get(i).length > 266, "the reply outgrows a first cache: " + whole.get(i).length);
            org.junit.jupiter.api.Assertions.assertArrayEquals(whole.get(i), grown.get(i), "request " + i);
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("grown (\\d+) times").matcher(report[0]);
        assertTrue(m.find() && Integer.parseInt(m.group(1)) >= 2, report[0]);
        GpuTests.report("growing KV caches on the GPU: " + report[0].lines().reduce((a, b) -> b).orElse(""));
    }

    private static List<int[]> generateTogether(java.nio.file.Path file, io.offload4j.engine.EngineOptions options,
                                                 int[][] prompts, String[] report) {
        try (io.offload4j.engine.InferenceEngine e = io.offload4j.engine.InferenceEngine.load(file, options)) {
            List<io.offload4j.engine.Generation> all = new ArrayList<>();
            for (int[] p : prompts) {
                all.add(e.submit(io.offload4j.engine.GenerationRequest.of(p, 0, io.offload4j.engine.SamplingParams.GREEDY),
                        io.offload4j.engine.GenerationListener.NONE));
            }
            List<int[]> out = new ArrayList<>();
            for (io.offload4j.engine.Generation g : all) {
                out.add(g.join().tokens());
            }
            if (report != null) {
                report[0] = e.memoryReport();
            }
            return out;
        }
    }

    @ParameterizedTest(name = "placement {0}")
    @CsvSource({"stream", "auto"})
    void concurrentRequestsOnAnOffloadedModelGiveTheirSequentialText(String placement) throws Exception {
        java.nio.file.Path stories = io.offload4j.testing.SharedData.require("models/stories260K.gguf");
        long total;
        try (Model model = Model.load(stories); TieredForwardPass probe = Passes.on(gpu.backend(), model, 64, 16,
                OffloadOptions.DEFAULTS)) {
            total = (probe).plan().residentBytes();
        }
        io.offload4j.engine.EngineOptions options = io.offload4j.engine.EngineOptions.DEFAULTS.withDevice("cuda")
                .withOffload(OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (0.7 * total)).withPrefetchDepth(1)
                        .withPlacement(placement));
        try (io.offload4j.engine.InferenceEngine e = io.offload4j.engine.InferenceEngine.load(stories, options)) {
            String[] prompts = {"Once upon a time", "The cat", "Lily and Ben went", "One day, a little bird"};
            List<int[]> alone = new ArrayList<>();
            for (String p : prompts) {
                alone.add(e.generate(io.offload4j.engine.GenerationRequest.of(e.tokenizer().encode(p, true, false), 40,
                        io.offload4j.engine.SamplingParams.GREEDY), io.offload4j.engine.GenerationListener.NONE)
                        .tokens());
            }
            List<io.offload4j.engine.Generation> together = new ArrayList<>();
            for (String p : prompts) {
                together.add(e.submit(io.offload4j.engine.GenerationRequest.of(e.tokenizer().encode(p, true, false),
                        40, io.offload4j.engine.SamplingParams.GREEDY), io.offload4j.engine.GenerationListener.NONE));
            }
            for (int i = 0; i < prompts.length; i++) {
                org.junit.jupiter.api.Assertions.assertArrayEquals(alone.get(i), together.get(i).join().tokens(),
                        "request " + i);
            }
            OffloadStats stats = e.offloadStats();
            assertTrue(stats.streamedBlocks() + stats.cpuBlocks() > 0, stats.toString());
            assertTrue(stats.bytesStreamed() > 0, stats.toString());
            GpuTests.report("engine on offloaded stories260K (" + placement + "): 4 concurrent requests = alone; "
                    + stats);
        }
    }

    @Test
    void streamsFromTheMappingWhenThePinnedBudgetRunsOut() {
        try (Model model = Model.load(model(QuantPreset.F16))) {
            int vocab = model.config().vocabularySize();
            List<float[]> want;
            long total;
            try (TieredForwardPass resident = Passes.on(gpu.backend(), model, 64, 32, OffloadOptions.DEFAULTS)) {
                total = (resident).plan().residentBytes();
                want = run(resident, vocab);
            }
            OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget(total / 4)
                    .withHostPinnedMemoryBudget(total / 5).withPlacement("stream");
            try (TieredForwardPass offloaded = Passes.on(gpu.backend(), model, 64, 32, options)) {
                assertTrue(offloaded.offloadStats().hostPinnedBytes() <= total / 5);
                List<float[]> got = run(offloaded, vocab);
                for (int i = 0; i < want.size(); i++) {
                    assertTrue(relErr(got.get(i), want.get(i)) <= TOL_SAME, "call " + i);
                }
                assertTrue(offloaded.memoryReport().contains("pinned streamed weights"), offloaded.memoryReport());
            }
        }
    }

    @Test
    void budgetsThatCannotWorkAreClearErrors() {
        try (Model model = Model.load(model(QuantPreset.F16))) {
            IllegalArgumentException tooBig = assertThrows(IllegalArgumentException.class,
                    () -> Passes.on(gpu.backend(), model, 64, 32,
                            OffloadOptions.DEFAULTS.withGpuMemoryBudget(gpu.backend().device().totalMemory() * 2)));
            assertTrue(tooBig.getMessage().contains("is larger than"), tooBig.getMessage());
            assertTrue(tooBig.getMessage().contains("lower the budget, or leave it automatic"), tooBig.getMessage());
            IllegalArgumentException tooSmall = assertThrows(IllegalArgumentException.class,
                    () -> Passes.on(gpu.backend(), model, 64, 32,
                            OffloadOptions.DEFAULTS.withGpuMemoryBudget(1 << 20)));
            assertTrue(tooSmall.getMessage().contains("too small"), tooSmall.getMessage());
        }
    }

    static double relErr(float[] got, float[] want) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < want.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
            maxRef = Math.max(maxRef, Math.abs(want[i]));
        }
        return maxDiff / maxRef;
    }

    private static final int PREFIX_CONTEXT = 256;
    private static final int PREFIX_CHUNK = 8;
    private static final int PREFIX_SHARED = 40;

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"llama, resident", "llama32, cpu", "gemma2, resident"})
    /**
     * {@link KvCache#copyPrefix}: a prompt prefix copied from another sequence's cache gives the logits of computing
     * it, with every block resident, with half of the 32-block model's blocks on the CPU (the tiered cache copies both
     * parts; the tiny model's half could not hold the staging ring) and through a sliding-window ring (Gemma 2, window
     * 8). The rows after the prefix run one token at a time: decode steps, their graphs, the CPU blocks' hand-off.
     */
    void aCopiedPrefixGivesTheLogitsOfComputingIt(String kind, String placement) {
        Path file = switch (kind) {
            case "llama32" -> model(tmp, QuantPreset.Q8_0);
            case "gemma2" -> written("gemma2", SyntheticModelSpec.tinyGemma(Architecture.GEMMA2, QuantPreset.F32, 8));
            default -> written("llama", SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32));
        };
        try (Model model = Model.load(file)) {
            OffloadOptions options = OffloadOptions.DEFAULTS;
            if (placement.equals("cpu")) {
                try (TieredForwardPass probe = Passes.on(gpu.backend(), model, PREFIX_CONTEXT, PREFIX_CHUNK, options)) {
                    options = options.withGpuMemoryBudget(probe.plan().residentBytes() / 2).withPlacement("cpu");
                }
            }
            try (TieredForwardPass pass = Passes.on(gpu.backend(), model, PREFIX_CONTEXT, PREFIX_CHUNK, options)) {
                if (placement.equals("cpu")) {
                    assertTrue(pass.plan().count(Placement.CPU) > 0, pass.plan().toString());
                }
                PrefixCopyCheck.assertCopiedPrefixGivesTheComputedLogits(pass, PREFIX_CONTEXT, PREFIX_CHUNK, PREFIX_SHARED, 1, 1e-3,
                        kind + " " + placement);
            }
        }
    }

    private static Path written(String name, SyntheticModelSpec spec) {
        Path file = tmp.resolve(name + ".gguf");
        if (!file.toFile().exists()) {
            SyntheticModelWriter.write(spec, file);
        }
        return file;
    }
}

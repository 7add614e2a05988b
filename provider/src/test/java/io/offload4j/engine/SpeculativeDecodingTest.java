package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.engine.speculative.Drafter;
import io.offload4j.engine.speculative.DrafterFactory;
import io.offload4j.engine.speculative.SpeculativeCounters;
import io.offload4j.engine.speculative.SpeculativeOptions;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.DelegatingForwardPass;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Speculative decoding through the whole engine on the CPU: greedy output token-identical to decoding without a
 * drafter (stories260K with prompt lookup and with itself as the draft model; random-weight models with a drafter
 * proposing their own greedy continuation with every third token corrupted, so that steps accept some drafts and
 * reject others), concurrent requests (drafts verified inside the shared step), the prefix cache
 * holding only accepted tokens, the statistics, and with sampling the distribution of the generated tokens checked
 * against the model's exact distribution by a chi-square test over thousands of seeds.
 */
@Timeout(300)
class SpeculativeDecodingTest {

    private static final String[] PROMPTS = {"Once upon a time", "The little dog", "Tom and Sue went to the park",
            "One day, a bird", "Lily saw a big red ball in the garden", "There was a boy", "The cat said \"hello\"",
            "Sam had a toy car. Sam had a toy car. Sam", "Mom said: go to bed. Mom said:", "A big tree", "The sun",
            "Ben and Mia"};

    @TempDir
    static Path dir;

    private static Path stories() {
        return SharedData.require("models/stories260K.gguf");
    }

    private static EngineOptions options() {
        return EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(0).withChunkTokens(32);
    }

    private static List<int[]> generate(Path model, EngineOptions options, List<int[]> prompts, int maxTokens,
                                        EngineStats[] stats) {
        try (InferenceEngine e = InferenceEngine.load(model, options)) {
            e.assumeFlatPassCosts(); // drafts whatever this machine's timings: the mechanism is under test
            List<Generation> all = new ArrayList<>();
            for (int[] p : prompts) { // all at once: the scheduler runs up to maxSequences together
                all.add(e.submit(GenerationRequest.of(p, maxTokens, SamplingParams.GREEDY), GenerationListener.NONE));
            }
            List<int[]> out = new ArrayList<>();
            for (Generation g : all) {
                out.add(g.join().tokens());
            }
            if (stats != null) {
                long generated = out.stream().mapToLong(t -> t.length).sum();
                long deadline = System.nanoTime() + 5_000_000_000L; // a step's counters are added after it completes
                while (e.stats().generatedTokens() < generated && System.nanoTime() < deadline) {
                    Thread.onSpinWait();
                }
                stats[0] = e.stats();
            }
            return out;
        }
    }

    private static List<int[]> encode(Path model, String... texts) {
        try (InferenceEngine e = InferenceEngine.load(model, options())) {
            List<int[]> out = new ArrayList<>();
            for (String t : texts) {
                out.add(e.tokenizer().encode(t, true, false));
            }
            return out;
        }
    }

    @Test
    void promptLookupGivesTheSameGreedyTokensAndAcceptsDrafts() {
        List<int[]> prompts = encode(stories(), PROMPTS);
        List<int[]> plain = generate(stories(), options(), prompts, 80, null);
        EngineStats[] stats = new EngineStats[1];
        List<int[]> speculative = generate(stories(), options().withSpeculative(SpeculativeOptions.promptLookupDefaults()
                .withMaxDraftTokens(6)), prompts, 80, stats);
        for (int i = 0; i < prompts.size(); i++) {
            assertArrayEquals(plain.get(i), speculative.get(i), "prompt " + i + " (" + PROMPTS[i] + ")");
        }
        EngineStats s = stats[0];
        assertTrue(s.verifications() > 0 && s.acceptedDraftTokens() > 0, s.toString());
        assertTrue(s.acceptanceRate() > 0 && s.acceptanceRate() <= 1, s.toString());
        assertTrue(s.tokensPerTargetPass() > 1, "more than one token per pass: " + s);
        long generated = plain.stream().mapToLong(t -> t.length).sum();
        assertEquals(generated, s.generatedTokens());
        assertEquals(generated - prompts.size(), s.decodeTokens(), "decode tokens: all but each request's first");
        // every decode token came from a verification (its accepted drafts and one more) or a plain decode row
        assertEquals(s.decodeTokens(), s.acceptedDraftTokens() + s.targetPasses(), s.toString());
    }

    @Test
    void theModelAsItsOwnDraftModelGivesTheSameTokensAndAcceptsNearlyEverything() {
        List<int[]> prompts = encode(stories(), Arrays.copyOf(PROMPTS, 6));
        List<int[]> plain = generate(stories(), options(), prompts, 60, null);
        EngineStats[] stats = new EngineStats[1];
        List<int[]> speculative = generate(stories(), options().withSpeculative(
                SpeculativeOptions.draftModel(stories()).withMaxDraftTokens(8)), prompts, 60, stats);
        for (int i = 0; i < prompts.size(); i++) {
            assertArrayEquals(plain.get(i), speculative.get(i), "prompt " + i + " (" + PROMPTS[i] + ")");
        }
        assertTrue(stats[0].acceptanceRate() > 0.95, "the draft model is the model: " + stats[0]);
        assertTrue(stats[0].tokensPerTargetPass() > 4, stats[0].toString());
    }

    /**
     * A drafter proposing a known greedy continuation of each prompt, with the tokens at positions divisible by
     * {@code corruptEvery} changed: each verification accepts the drafts up to the next corrupted one.
     */
    static DrafterFactory oracle(List<int[]> prompts, List<int[]> continuations, int vocab, int corruptEvery) {
        List<int[]> full = new ArrayList<>();
        for (int i = 0; i < prompts.size(); i++) {
            int[] f = Arrays.copyOf(prompts.get(i), prompts.get(i).length + continuations.get(i).length);
            System.arraycopy(continuations.get(i), 0, f, prompts.get(i).length, continuations.get(i).length);
            full.add(f);
        }
        Drafter drafter = (history, length, max, out) -> {
            for (int[] f : full) {
                if (f.length >= length && Arrays.equals(f, 0, length, history, 0, length)) {
                    int n = Math.min(max, f.length - length);
                    for (int i = 0; i < n; i++) {
                        int pos = length + i;
                        out[i] = pos % corruptEvery == 0 ? (f[pos] + 1) % vocab : f[pos];
                    }
                    return n;
                }
            }
            return 0;
        };
        return capacity -> drafter;
    }

    /**
     * Measured pass costs (no {@code assumeFlatPassCosts}): whatever k the policy picks on this machine the tokens are
     * those of plain decoding, the plain decode step is measured, and the passes by draft length add up to the
     * totals (every target pass counted once, under the drafts it checked).
     */
    @Test
    void measuredPassCostsChangeNothingButSpeedAndThePassesAddUp() {
        Path model = dir.resolve("spec-measured.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), model);
        java.util.SplittableRandom random = new java.util.SplittableRandom(99);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            prompts.add(random.ints(2 + random.nextInt(12), 3, 512).toArray());
        }
        List<int[]> plain = generate(model, options(), prompts, 60, null);
        EngineOptions options = options().withMaxSequences(1).withSpeculative(SpeculativeOptions.OFF
                .withDrafter(oracle(prompts, plain, 512, 5)).withMaxDraftTokens(8));
        InferenceEngine e = InferenceEngine.load(model, options);
        try (e) {
            for (int i = 0; i < prompts.size(); i++) {
                int[] got = e.generate(GenerationRequest.of(prompts.get(i), 60, SamplingParams.GREEDY),
                        GenerationListener.NONE).tokens();
                assertArrayEquals(plain.get(i), got, "prompt " + i);
            }
        }
        // closed: the scheduler has stopped, so every step's counters are in
        EngineStats s = e.stats();
        SpeculativeCounters c = e.speculativeCounters();
        long passes = 0;
        long drafted = 0;
        long nanos = 0;
        for (int k = 0; k <= SpeculativeOptions.MAX_DRAFT_TOKENS; k++) {
            passes += c.passes(k);
            drafted += (long) k * c.passes(k);
            nanos += c.passNanos(k);
            assertTrue(k <= 8 || c.passes(k) == 0, "no pass drafts more than 8");
        }
        assertEquals(s.targetPasses(), passes, s.toString());
        assertEquals(s.draftedTokens(), drafted, s.toString());
        assertEquals(s.verifications(), passes - c.passes(0), s.toString());
        assertTrue(nanos > 0 && nanos <= s.decodeNanos(), nanos + " ns of passes in " + s);
        assertTrue(e.passCosts().measured(1), "the plain decode step is measured");
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"LLAMA, F32", "QWEN2, Q8_0", "QWEN3, Q4_K_M"})
    void randomWeightModelsGiveTheSameGreedyTokensWithPartlyWrongDrafts(Architecture arch, QuantPreset quant) {
        Path model = dir.resolve("spec-" + arch + "-" + quant + ".gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(arch, quant), model);
        java.util.SplittableRandom random = new java.util.SplittableRandom(arch.ordinal() * 7L + quant.ordinal());
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            prompts.add(random.ints(2 + random.nextInt(12), 3, 512).toArray());
        }
        List<int[]> plain = generate(model, options(), prompts, 40, null);
        EngineStats[] stats = new EngineStats[1];
        List<int[]> speculative = generate(model, options().withSpeculative(SpeculativeOptions.OFF
                .withDrafter(oracle(prompts, plain, 512, 3)).withMaxDraftTokens(8)), prompts, 40, stats);
        for (int i = 0; i < prompts.size(); i++) {
            assertArrayEquals(plain.get(i), speculative.get(i), arch + " " + quant + " prompt " + i);
        }
        EngineStats s = stats[0];
        // every third position is wrong: a verification accepts up to 2 drafts, never all when it drafted 3+ (with
        // flat pass costs k is 8 throughout: about 2 of 8 accepted)
        assertTrue(s.acceptanceRate() > 0.2 && s.acceptanceRate() < 0.95, s.toString());
        assertTrue(s.tokensPerTargetPass() > 1.5, s.toString());
    }

    /**
     * Several requests at once, each drafting: their drafts are verified inside the one shared step per round (a
     * forwardBatch call holding several sequences' drafts beside each other; no pass of its own), and the greedy tokens
     * are those of decoding without drafts. A drafter that fails fails its own request only.
     */
    @Test
    void severalSequencesVerifyTheirDraftsInOneSharedStepAndADrafterFailureFailsItsOwnOnly() {
        Path model = dir.resolve("spec-shared-step.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), model);
        List<int[]> prompts = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            int[] p = new java.util.SplittableRandom(40 + i).ints(6 + i, 3, 512).toArray();
            p[0] = 100 + i; // distinct first tokens: the failing drafter below knows its request by it
            prompts.add(p);
        }
        List<int[]> plain = generate(model, options(), prompts, 40, null);
        Drafter oracle = oracle(prompts, plain, 512, 4).open(64);
        Drafter failingForTheLast = (history, length, max, out) -> {
            if (history[0] == 103 && length > prompts.get(3).length + 5) {
                throw new IllegalStateException("drafter broke");
            }
            return oracle.draft(history, length, max, out);
        };
        int[] draftingInAStep = new int[1];
        int[] ownPasses = new int[1];
        int[] mostRows = new int[1];
        // 4 sequences × 12 drafts would be 48 rows beyond their own: the pool of draft rows holds 32
        EngineOptions options = options().withSpeculative(SpeculativeOptions.OFF
                .withDrafter(capacity -> failingForTheLast).withMaxDraftTokens(12));
        try (InferenceEngine e = InferenceEngine.load(model, options, (pass, tokenizer) -> new RowCounting(pass,
                draftingInAStep, ownPasses, mostRows))) {
            e.assumeFlatPassCosts();
            List<Generation> all = new ArrayList<>();
            for (int[] p : prompts) {
                all.add(e.submit(GenerationRequest.of(p, 40, SamplingParams.GREEDY), GenerationListener.NONE));
            }
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(plain.get(i), all.get(i).join().tokens(), "prompt " + i);
            }
            Throwable failed = assertThrows(RuntimeException.class, () -> all.get(3).join());
            while (failed.getCause() != null && !"drafter broke".equals(failed.getMessage())) {
                failed = failed.getCause();
            }
            assertEquals("drafter broke", failed.getMessage());
            assertTrue(e.stats().acceptedDraftTokens() > 0, e.stats().toString());
        }
        assertTrue(draftingInAStep[0] >= 3, "sequences with drafts in one step, at most: " + draftingInAStep[0]);
        assertEquals(0, ownPasses[0], "no verification ran in a pass of its own");
        assertTrue(mostRows[0] > 4 + 12 && mostRows[0] <= 4 + SpeculativeDecoding.POOL_ROWS,
                "the most rows of a step: " + mostRows[0]);
    }

    /**
     * Delegates; counts the most sequences with several rows in one forwardBatch call, the most rows of one, and
     * forwardAll calls.
     */
    private static final class RowCounting extends DelegatingForwardPass {
        private final int[] mostDrafting;
        private final int[] forwardAllCalls;
        private final int[] mostRows;

        RowCounting(ForwardPass pass, int[] mostDrafting, int[] forwardAllCalls, int[] mostRows) {
            super(pass);
            this.mostDrafting = mostDrafting;
            this.forwardAllCalls = forwardAllCalls;
            this.mostRows = mostRows;
        }

        @Override
        public void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
            int drafting = 0;
            for (int b = 1; b < batch; b++) {
                if (caches[b] == caches[b - 1] && (b == 1 || caches[b - 2] != caches[b])) {
                    drafting++; // the second row of a sequence: it has drafts
                }
            }
            mostDrafting[0] = Math.max(mostDrafting[0], drafting);
            mostRows[0] = Math.max(mostRows[0], batch);
            pass.forwardBatch(caches, tokens, positions, batch, logits);
        }

        @Override
        public void forwardAll(KvCache cache, int[] tokens, int offset, int count, int startPos, float[][] logits) {
            forwardAllCalls[0]++;
            pass.forwardAll(cache, tokens, offset, count, startPos, logits);
        }

        @Override
        public void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits) {
            pass.forward(cache, tokens, offset, count, startPos, logits);
        }

    }

    @Test
    void thePrefixCacheKeepsOnlyAcceptedTokens() {
        List<int[]> prompts = encode(stories(), PROMPTS[7], PROMPTS[8]);
        EngineOptions cached = options().withPrefixCacheBytes(64L << 20)
                .withSpeculative(SpeculativeOptions.promptLookupDefaults().withMaxDraftTokens(8));
        try (InferenceEngine plain = InferenceEngine.load(stories(), options());
             InferenceEngine e = InferenceEngine.load(stories(), cached)) {
            e.assumeFlatPassCosts();
            for (int[] prompt : prompts) {
                GenerationResult first = e.generate(GenerationRequest.of(prompt, 30, SamplingParams.GREEDY),
                        GenerationListener.NONE);
                // the next turn starts with the first one's prompt and reply: it continues the kept KV cache
                int[] next = Arrays.copyOf(prompt, prompt.length + first.tokens().length + 2);
                System.arraycopy(first.tokens(), 0, next, prompt.length, first.tokens().length);
                next[next.length - 2] = 13;
                next[next.length - 1] = 100;
                long reusedBefore = e.stats().reusedPromptTokens();
                int[] got = e.generate(GenerationRequest.of(next, 30, SamplingParams.GREEDY), GenerationListener.NONE)
                        .tokens();
                int[] want = plain.generate(GenerationRequest.of(next, 30, SamplingParams.GREEDY),
                        GenerationListener.NONE).tokens();
                assertArrayEquals(want, got);
                assertTrue(e.stats().reusedPromptTokens() - reusedBefore >= prompt.length, e.stats().toString());
            }
            assertTrue(e.stats().acceptedDraftTokens() > 0, e.stats().toString());
        }
    }

    @Test
    void aDraftModelWithAnotherVocabularyIsRefused() {
        Path other = dir.resolve("other-vocab.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), other);
        Path stories = stories(); // outside the lambdas: without the shared data the test is skipped, not failed
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> InferenceEngine.load(stories,
                options().withSpeculative(SpeculativeOptions.draftModel(other))));
        assertTrue(e.getMessage().contains("the draft model " + other) && e.getMessage().contains("vocabular")
                && e.getMessage().contains("must share the target's vocabulary"), e.getMessage());
        Path bigger = dir.resolve("bigger-vocab.gguf");
        SyntheticModelSpec t = SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32);
        SyntheticModelWriter.write(new SyntheticModelSpec("bigger", t.architecture(), t.embeddingLength(),
                t.blockCount(), t.feedForwardLength(), t.headCount(), t.headCountKv(), t.headDim(), 640,
                t.contextLength(), t.quantization(), false, 3), bigger);
        e = assertThrows(IllegalArgumentException.class, () -> InferenceEngine.load(stories,
                options().withSpeculative(SpeculativeOptions.draftModel(bigger))));
        assertTrue(e.getMessage().contains("640 tokens") && e.getMessage().contains("512"), e.getMessage());
    }

    @Test
    void optionsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> SpeculativeOptions.OFF.withMaxDraftTokens(0));
        assertThrows(IllegalArgumentException.class, () -> SpeculativeOptions.OFF.withNgramSizes(3, 2));
        String both = assertThrows(IllegalArgumentException.class, () -> SpeculativeOptions.promptLookupDefaults()
                .withDraftModel(Path.of("draft.gguf"))).getMessage();
        assertTrue(both.contains("choose one"), both);
        Path stories = stories(); // outside the lambda: without the shared data the test is skipped, not failed
        String chunk = assertThrows(IllegalArgumentException.class, () -> InferenceEngine.load(stories,
                options().withChunkTokens(1).withSpeculative(SpeculativeOptions.promptLookupDefaults()))).getMessage();
        assertTrue(chunk.contains("at least 2 tokens"), chunk);
    }

    // ------------------------------------------------------------------ sampling: the distribution is unchanged

    private static final int SEEDS = 3000;
    private static final int TOP_K = 4;

    /**
     * 3,000 requests (one seed each) generate four tokens at temperature 1, top-k 4, with the model drafting for
     * itself (greedy drafts: accepted with the probability of the argmax, often rejected; the first decode step
     * verifies two drafts, so acceptance, rejection after an accepted draft, and the bonus token all occur); the joint
     * distribution of the first three tokens is compared with the exact one, computed from the model's logits, by a chi-square test
     * (cells with fewer than 5 expected merged).
     */
    @Test
    void withSamplingTheTokensFollowTheModelsDistribution() {
        Path model = dir.resolve("chi-llama.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), model);
        int[] prompt = {5, 77, 300};
        Map<Long, Double> exact = exactJoint(model, prompt);
        SamplingParams sampling = new SamplingParams(1.0, TOP_K, 1, 0, 1, 64, null);
        Map<Long, Long> observed = new HashMap<>();
        EngineOptions options = options().withMaxSequences(8).withSpeculative(SpeculativeOptions.draftModel(model)
                .withMaxDraftTokens(4));
        long accepted;
        long drafted;
        try (InferenceEngine e = InferenceEngine.load(model, options)) {
            e.assumeFlatPassCosts();
            List<Generation> all = new ArrayList<>();
            for (int seed = 0; seed < SEEDS; seed++) {
                all.add(e.submit(GenerationRequest.of(prompt, 4, sampling.withSeed((long) seed)),
                        GenerationListener.NONE));
            }
            for (Generation g : all) {
                int[] t = g.join().tokens();
                assertEquals(4, t.length);
                observed.merge(key(t[0], t[1], t[2]), 1L, Long::sum);
            }
            accepted = e.stats().acceptedDraftTokens();
            drafted = e.stats().draftedTokens();
        }
        assertTrue(drafted > SEEDS && accepted > 0 && accepted < drafted, "drafts both accepted and rejected: "
                + accepted + " of " + drafted);
        double chi = 0;
        int cells = 0;
        double restExpected = 0;
        long restObserved = 0;
        for (Map.Entry<Long, Double> c : exact.entrySet()) {
            double expected = c.getValue() * SEEDS;
            long got = observed.getOrDefault(c.getKey(), 0L);
            if (expected < 5) {
                restExpected += expected;
                restObserved += got;
                continue;
            }
            chi += (got - expected) * (got - expected) / expected;
            cells++;
        }
        if (restExpected > 0) {
            chi += (restObserved - restExpected) * (restObserved - restExpected) / restExpected;
            cells++;
        }
        for (Long k : observed.keySet()) {
            assertTrue(exact.containsKey(k), "a token triple outside the top-k support was generated");
        }
        int df = cells - 1;
        assertTrue(df >= 10, "enough cells: " + df);
        double critical = SamplerVerifyTest.critical(df);
        assertTrue(chi < critical, "chi-square " + chi + " over " + df + " degrees of freedom, critical " + critical);
    }

    private static long key(int a, int b, int c) {
        return ((long) a << 40) | ((long) b << 20) | c;
    }

    /** P(t1, t2, t3 | prompt) at temperature 1, top-k 4, from the CPU pass, one token at a time. */
    private static Map<Long, Double> exactJoint(Path modelPath, int[] prompt) {
        Map<Long, Double> joint = new HashMap<>();
        try (Model m = Model.load(modelPath); ForwardPass pass = new CpuBackend(1).prepare(m, 16, 8)) {
            int vocab = m.config().vocabularySize();
            float[] logits = new float[vocab];
            try (KvCache cache = pass.newKvCache(16)) {
                pass.forward(cache, prompt, 0, prompt.length, 0, logits);
                double[] p1 = SamplerVerifyTest.distribution(logits, 1.0, TOP_K);
                int[] seq = Arrays.copyOf(prompt, prompt.length + 2);
                int n = prompt.length;
                for (int a = 0; a < vocab; a++) {
                    if (p1[a] == 0) {
                        continue;
                    }
                    seq[n] = a;
                    pass.forward(cache, seq, n, 1, n, logits);
                    double[] p2 = SamplerVerifyTest.distribution(logits, 1.0, TOP_K);
                    for (int b = 0; b < vocab; b++) {
                        if (p2[b] == 0) {
                            continue;
                        }
                        seq[n + 1] = b;
                        pass.forward(cache, seq, n + 1, 1, n + 1, logits);
                        double[] p3 = SamplerVerifyTest.distribution(logits, 1.0, TOP_K);
                        for (int c = 0; c < vocab; c++) {
                            if (p3[c] > 0) {
                                joint.put(key(a, b, c), p1[a] * p2[b] * p3[c]);
                            }
                        }
                    }
                }
            }
        }
        return joint;
    }
}

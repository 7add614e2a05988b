package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Time to first token of a conversation's second turn, with and without prefix reuse, on a random-weight model.
 *
 * <p>Turn 1 is a long prompt (a system prompt and a question) and a generated answer; turn 2's prompt is turn 1's
 * prompt, the answer and a short new question, so all but the new question is already in turn 1's KV cache.
 * Measured: from {@code submit} to the first generated token arriving at the listener (queueing, prefill and
 * the first sample), the median of several runs, each on a fresh conversation.
 *
 * <p>By default a small model keeps this test quick; for the numbers in the README run
 * <pre>
 * ./mvnw -B -pl provider -am test -Dtest=TimeToFirstTokenBenchmark -Dsurefire.failIfNoSpecifiedTests=false \
 *     -Doffload4j.ttft.model=small -Doffload4j.ttft.prompt=512 -Doffload4j.ttft.runs=3
 * </pre>
 * ({@code small}: {@link SyntheticModelSpec#small} at Q8_0, 410 M parameters).
 */
class TimeToFirstTokenBenchmark {

    private static final int ANSWER_TOKENS = 32;
    private static final int QUESTION_TOKENS = 16;
    private static final int PROMPT_TOKENS = Integer.getInteger("offload4j.ttft.prompt", 200);
    private static final int RUNS = Integer.getInteger("offload4j.ttft.runs", 3);
    private static final EngineOptions OPTIONS = EngineOptions.DEFAULTS.withDevice("cpu")
            .withContextLength(PROMPT_TOKENS + 256);

    @Test
    void secondTurnTimeToFirstToken(@TempDir Path dir) throws Exception {
        int promptTokens = PROMPT_TOKENS;
        int runs = RUNS;
        SyntheticModelSpec spec = spec();
        Path model = written(spec, dir);
        EngineOptions options = OPTIONS;

        long[] without;
        long[] with;
        int[] reused = new int[runs];
        int[][] tokensWithout = new int[runs][];
        int[][] tokensWith = new int[runs][];
        try (InferenceEngine e = InferenceEngine.load(model, options.withPrefixCacheBytes(0))) {
            without = measure(e, promptTokens, runs, null, tokensWithout);
        }
        try (InferenceEngine e = InferenceEngine.load(model, options)) {
            with = measure(e, promptTokens, runs, reused, tokensWith);
        }
        long medianWithout = median(without);
        long medianWith = median(with);
        System.out.printf(Locale.ROOT, "TTFT turn 2 (%s, %s, %d prompt tokens in turn 1 + %d answer + %d new, %d runs):"
                        + " without prefix reuse %.1f ms, with %.1f ms (%d tokens reused), %.1fx faster%n",
                spec.name(), spec.quantization(), promptTokens, ANSWER_TOKENS, QUESTION_TOKENS, runs,
                medianWithout / 1e6, medianWith / 1e6, reused[0], (double) medianWithout / medianWith);
        for (int i = 0; i < runs; i++) {
            assertEquals(promptTokens + ANSWER_TOKENS - 1, reused[i], "turn 2 reuses all of turn 1 but its last token");
            assertArrayEquals(tokensWithout[i], tokensWith[i], "reuse does not change the greedy continuation");
        }
        assertTrue(medianWith * 3 < medianWithout, "reuse skips the prefill of " + reused[0] + " tokens");
    }

    /**
     * Time to first token of a new conversation that starts with the same system prompt as the one before it (three
     * quarters of the prompt; the rest its own question), with the prefix cache on (the system prompt copied from
     * the kept conversation, or that conversation's cache taken where the share is worth it) and off.
     */
    @Test
    void newConversationWithTheSameSystemPromptTimeToFirstToken(@TempDir Path dir) throws Exception {
        int promptTokens = PROMPT_TOKENS;
        int runs = RUNS;
        SyntheticModelSpec spec = spec();
        Path model = written(spec, dir);
        EngineOptions options = OPTIONS;
        int system = promptTokens * 3 / 4;
        long[][] ttft = new long[2][runs];
        int[][][] tokens = new int[2][runs][];
        int[] cached = new int[runs];
        for (int on = 0; on < 2; on++) {
            try (InferenceEngine e = InferenceEngine.load(model, on == 1 ? options : options.withPrefixCacheBytes(0))) {
                for (int run = -1; run < runs; run++) { // run -1 warms up
                    int r = Math.max(run, 0);
                    int[] shared = words(e, system, 3000 + r);
                    int[] before = withQuestion(e, shared, promptTokens, 4000 + r);
                    e.generate(GenerationRequest.of(before, ANSWER_TOKENS, SamplingParams.GREEDY),
                            GenerationListener.NONE);
                    long[] first = new long[1];
                    long start = System.nanoTime();
                    GenerationResult next = e.generate(GenerationRequest.of(withQuestion(e, shared, promptTokens,
                            5000 + r), 8, SamplingParams.GREEDY), new GenerationListener() {
                                @Override
                                public void onToken(int token) {
                                    if (first[0] == 0) {
                                        first[0] = System.nanoTime();
                                    }
                                }
                            });
                    if (run >= 0) {
                        ttft[on][run] = first[0] - start;
                        tokens[on][run] = next.tokens();
                        if (on == 1) {
                            cached[run] = next.cachedPromptTokens();
                        }
                    }
                }
            }
        }
        long off = median(ttft[0]);
        long withCache = median(ttft[1]);
        System.out.printf(Locale.ROOT, "TTFT of a new conversation with the previous one's system prompt (%s, %s, %d"
                        + " prompt tokens, %d of them the system prompt, %d runs): prefix cache off %.1f ms, on %.1f ms"
                        + " (%d tokens not computed), %.1fx faster%n", spec.name(), spec.quantization(), promptTokens,
                system, runs, off / 1e6, withCache / 1e6, cached[0], (double) off / withCache);
        for (int i = 0; i < runs; i++) {
            assertEquals(system, cached[i], "the system prompt is not computed again");
            assertArrayEquals(tokens[0][i], tokens[1][i], "copying does not change the greedy continuation");
        }
        assertTrue(withCache < off, "the system prompt's prefill is skipped");
    }

    /** The model {@code offload4j.ttft.model} names: {@code mini} (the default) or {@code small}. */
    private static SyntheticModelSpec spec() {
        String which = System.getProperty("offload4j.ttft.model", "mini");
        return switch (which) {
            case "small" -> SyntheticModelSpec.small(QuantPreset.Q8_0);
            case "mini" -> new SyntheticModelSpec("synthetic-mini", Architecture.LLAMA, 512, 4, 1536, 8, 4, 0, 4000,
                    2048, QuantPreset.Q8_0, false, 7);
            default -> throw new IllegalArgumentException("offload4j.ttft.model: mini or small, was " + which);
        };
    }

    private static Path written(SyntheticModelSpec spec, Path dir) {
        Path model = dir.resolve(spec.name() + ".gguf");
        SyntheticModelWriter.write(spec, model);
        return model;
    }

    /** {@code shared} followed by word tokens up to {@code length} tokens in all. */
    private static int[] withQuestion(InferenceEngine e, int[] shared, int length, long seed) {
        int[] p = words(e, length, seed);
        System.arraycopy(shared, 0, p, 0, shared.length);
        return p;
    }

    /** TTFT of turn 2 of {@code runs} conversations; also records turn 2's reused count and tokens. */
    private static long[] measure(InferenceEngine e, int promptTokens, int runs, int[] reused, int[][] turn2Tokens) {
        long[] ttft = new long[runs + 1];
        for (int run = -1; run < runs; run++) { // run -1 warms up
            int r = Math.max(run, 0);
            int[] turn1 = words(e, promptTokens, 1000 + r);
            GenerationResult answer = e.generate(GenerationRequest.of(turn1, ANSWER_TOKENS, SamplingParams.GREEDY),
                    GenerationListener.NONE);
            int[] question = Arrays.copyOfRange(words(e, QUESTION_TOKENS + 1, 2000 + r), 1, QUESTION_TOKENS + 1);
            int[] turn2 = new int[turn1.length + answer.tokens().length + question.length];
            System.arraycopy(turn1, 0, turn2, 0, turn1.length);
            System.arraycopy(answer.tokens(), 0, turn2, turn1.length, answer.tokens().length);
            System.arraycopy(question, 0, turn2, turn1.length + answer.tokens().length, question.length);
            long[] first = new long[1];
            long start = System.nanoTime();
            GenerationResult r2 = e.generate(GenerationRequest.of(turn2, 8, SamplingParams.GREEDY),
                    new GenerationListener() {
                        @Override
                        public void onToken(int token) {
                            if (first[0] == 0) {
                                first[0] = System.nanoTime();
                            }
                        }
                    });
            if (run >= 0) {
                ttft[run] = first[0] - start;
                if (reused != null) {
                    reused[run] = r2.cachedPromptTokens();
                }
                turn2Tokens[run] = r2.tokens();
            }
        }
        return Arrays.copyOf(ttft, runs);
    }

    /** BOS and {@code n - 1} random word tokens (no EOS, no byte tokens), reproducible from the seed. */
    private static int[] words(InferenceEngine e, int n, long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        int vocab = e.tokenizer().vocabularySize();
        int[] t = new int[n];
        t[0] = e.tokenizer().bosToken();
        for (int i = 1; i < n; i++) {
            t[i] = 400 + random.nextInt(vocab - 400);
        }
        return t;
    }

    private static long median(long[] values) {
        long[] v = values.clone();
        Arrays.sort(v);
        return v[v.length / 2];
    }
}

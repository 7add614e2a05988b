package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Prefix reuse: a request that starts with a finished sequence's tokens continues its KV cache. */
@Timeout(60)
class PrefixReuseTest {

    private static Path stories() {
        return SharedData.require("models/stories260K.gguf");
    }

    private static int[] concat(int[]... parts) {
        int n = 0;
        for (int[] p : parts) {
            n += p.length;
        }
        int[] out = new int[n];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, out, at, p.length);
            at += p.length;
        }
        return out;
    }

    private static GenerationResult greedy(InferenceEngine e, int[] prompt, int maxTokens) {
        return e.generate(GenerationRequest.of(prompt, maxTokens, SamplingParams.GREEDY), GenerationListener.NONE);
    }

    @Test
    void theNextTurnContinuesTheKvCacheOfThePreviousOne() {
        try (InferenceEngine reuse = InferenceEngine.load(stories(), EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1));
             InferenceEngine fresh = InferenceEngine.load(stories(),
                     EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(0))) {
            int[] turn1 = reuse.tokenizer().encode("Once upon a time", true, false);
            GenerationResult r1 = greedy(reuse, turn1, 20);
            assertEquals(0, r1.cachedPromptTokens());
            assertEquals(1, reuse.stats().prefixCacheEntries());

            int[] next = reuse.tokenizer().encode(" The end. Then", false, false);
            int[] turn2 = concat(turn1, r1.tokens(), next);
            GenerationResult r2 = greedy(reuse, turn2, 30);
            // The KV cache held the prompt and every generated token but the last (never fed back).
            assertEquals(turn1.length + r1.generatedTokenCount() - 1, r2.cachedPromptTokens());
            EngineStats stats = reuse.stats();
            assertEquals(1, stats.prefixHits());
            assertEquals(r2.cachedPromptTokens(), stats.reusedPromptTokens());
            assertEquals(1, stats.prefixCacheEntries(), "turn 1's entry became turn 2's");

            // Same tokens as computing the whole prompt from scratch.
            GenerationResult scratch = greedy(fresh, turn2, 30);
            assertEquals(0, scratch.cachedPromptTokens());
            assertArrayEquals(scratch.tokens(), r2.tokens());
        }
    }

    @Test
    void anEntryIsTakenByOneSequenceOnlyAndAnUnrelatedPromptStartsFresh() throws Exception {
        try (InferenceEngine e = InferenceEngine.load(stories(), EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1))) {
            int[] turn1 = e.tokenizer().encode("Once upon a time", true, false);
            GenerationResult r1 = greedy(e, turn1, 20);
            int[] turn2 = concat(turn1, r1.tokens(), e.tokenizer().encode(" Then", false, false));
            // Hold the engine's thread in a listener while a and b are queued, so that both are admitted in the same
            // round: otherwise, on a busy machine, a may finish before b is even submitted and b rightly reuses a's cache.
            java.util.concurrent.CountDownLatch blocking = new java.util.concurrent.CountDownLatch(1);
            java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
            Generation blocker = e.submit(GenerationRequest.of(e.tokenizer().encode("Hi", true, false), 1,
                    SamplingParams.GREEDY), new GenerationListener() {
                        @Override
                        public void onToken(int token) {
                            blocking.countDown();
                            try {
                                release.await();
                            } catch (InterruptedException ex) {
                                Thread.currentThread().interrupt();
                            }
                        }
                    });
            blocking.await();
            long hitsBefore = e.stats().prefixHits();
            long reusedBefore = e.stats().reusedPromptTokens();
            Generation a = e.submit(GenerationRequest.of(turn2, 10, SamplingParams.GREEDY), GenerationListener.NONE);
            Generation b = e.submit(GenerationRequest.of(turn2, 10, SamplingParams.GREEDY), GenerationListener.NONE);
            release.countDown();
            blocker.join();
            GenerationResult ra = a.join();
            GenerationResult rb = b.join();
            assertEquals(1, e.stats().prefixHits() - hitsBefore, "the KV cache is never shared by two running"
                    + " sequences: one takes it");
            // the other computes the prompt in a cache of its own, or copies what the first has computed of it
            assertEquals(ra.cachedPromptTokens() + rb.cachedPromptTokens(),
                    e.stats().reusedPromptTokens() - reusedBefore + e.stats().copiedPromptTokens());
            assertArrayEquals(ra.tokens(), rb.tokens());

            // Sharing only BOS with every entry: not worth destroying one, a fresh cache is used.
            long hits = e.stats().prefixHits();
            GenerationResult other = greedy(e, e.tokenizer().encode("Zebras", true, false), 5);
            assertEquals(0, other.cachedPromptTokens());
            assertEquals(hits, e.stats().prefixHits());
        }
    }

    @Test
    void aRequestThatContinuesAnEarlierPromptTakesItsCacheEvenIfTheReplyDiffers() {
        try (InferenceEngine e = InferenceEngine.load(stories(), EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1))) {
            int[] turn1 = e.tokenizer().encode("Once upon a time", true, false);
            GenerationResult r1 = greedy(e, turn1, 60);
            // The reply comes back tokenized differently (here: other tokens altogether): only the prompt is shared,
            // far less than half of the kept sequence, and still it is this conversation's cache.
            int[] turn2 = concat(turn1, e.tokenizer().encode(" The dog ran away. The end.", false, false));
            GenerationResult r2 = greedy(e, turn2, 5);
            assertEquals(turn1.length, r2.cachedPromptTokens());
            assertTrue(turn1.length * 2 < turn1.length + r1.generatedTokenCount() - 1);
        }
    }

    @Test
    void theOldestEntriesAreFreedWhenTheBudgetIsFull() {
        // KV caches hold the positions their request can reach: every request here reaches position 24, so each
        // kept cache weighs the same
        int reach = 24;
        long oneCache;
        try (InferenceEngine probe = InferenceEngine.load(stories(), EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1))) {
            int[] hi = probe.tokenizer().encode("Hi", true, false);
            greedy(probe, hi, reach - hi.length);
            oneCache = probe.stats().prefixCacheBytes();
        }
        assertTrue(oneCache > 0);
        try (InferenceEngine e = InferenceEngine.load(stories(),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(2 * oneCache))) {
            String[] prompts = {"Once upon a time", "The little dog", "Tom and Sue went"};
            int[][] turn1 = new int[3][];
            GenerationResult[] r1 = new GenerationResult[3];
            for (int i = 0; i < 3; i++) {
                turn1[i] = e.tokenizer().encode(prompts[i], true, false);
                r1[i] = greedy(e, turn1[i], reach - turn1[i].length);
            }
            EngineStats stats = e.stats();
            assertEquals(2, stats.prefixCacheEntries());
            assertEquals(2 * oneCache, stats.prefixCacheBytes());
            assertEquals(1, stats.prefixEvictions());
            // The third conversation's cache is there; the first's was the oldest: gone. (The third first: the next
            // turns' caches are larger, so keeping one of them evicts more than one of these.)
            GenerationResult third = greedy(e, concat(turn1[2], r1[2].tokens()), 3);
            assertEquals(turn1[2].length + r1[2].tokens().length - 1, third.cachedPromptTokens());
            GenerationResult first = greedy(e, concat(turn1[0], r1[0].tokens()), 3);
            assertEquals(0, first.cachedPromptTokens());
        }
    }

    /**
     * KV caches hold the positions their request can reach (prompt and max tokens), not the whole context. A next turn
     * that needs more than the kept cache holds gets the kept positions copied into a larger cache: reused, not
     * computed again, and the same tokens as an engine without prefix reuse.
     */
    @Test
    void aKeptCacheTooSmallForTheNextTurnIsCopiedIntoALargerOne() {
        try (InferenceEngine e = InferenceEngine.load(stories(), EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1));
             InferenceEngine plain = InferenceEngine.load(stories(),
                     EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(0))) {
            int[] p = e.tokenizer().encode("Once upon a time", true, false);
            GenerationResult r = greedy(e, p, 10);
            long small = e.stats().prefixCacheBytes();
            int[] longer = Arrays.copyOf(concat(p, r.tokens()), p.length + r.tokens().length);
            int rest = e.contextLength() - longer.length;
            GenerationResult r2 = greedy(e, longer, rest);
            assertEquals(p.length + 9, r2.cachedPromptTokens(), "the kept positions were reused");
            assertArrayEquals(greedy(plain, longer, rest).tokens(), r2.tokens());
            assertTrue(e.stats().prefixCacheBytes() > small, "the second turn's cache is larger: "
                    + e.stats().prefixCacheBytes() + " vs " + small + " bytes");
        }
    }
}

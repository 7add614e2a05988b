package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.testing.DelegatingForwardPass;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Continuous batching in the scheduler, observed through a recording {@link ForwardPass} around the real CPU pass
 * on stories260K: every round decodes all sequences past their prompt in one {@code forwardBatch} call (each
 * sequence in every batch from the round after its prompt is in until it ends, no gaps), prompt chunks run one
 * per sequence per round, and every request's greedy output equals that of the same request run alone.
 */
@Timeout(60)
class BatchedDecodeTest {

    private static final String[] PROMPTS = {"Once upon a time", "The little dog", "Tom and Sue went to the park",
            "One day, a bird", "Lily saw a big red ball in the garden", "There was a boy"};

    private static Path model() {
        return SharedData.require("models/stories260K.gguf");
    }

    private static EngineOptions options(int chunkTokens) {
        return EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(0)
                .withChunkTokens(chunkTokens);
    }

    @Test
    void concurrentRequestsDecodeTogetherInOneBatchedCallPerRound() throws Exception {
        int[] maxTokens = {24, 8, 30, 16, 3, 20};
        EngineOptions options = options(64);
        List<GenerationRequest> requests = new ArrayList<>();
        try (InferenceEngine plain = InferenceEngine.load(model(), options)) {
            for (int i = 0; i < PROMPTS.length; i++) {
                requests.add(request(plain, PROMPTS[i], maxTokens[i]));
            }
        }
        List<int[]> sequential = sequential(options, requests);
        Recorder recorder = new Recorder();
        try (InferenceEngine e = recorder.load(options)) {
            long t0 = System.nanoTime();
            List<Generation> generations = new ArrayList<>();
            for (GenerationRequest r : requests) {
                generations.add(e.submit(r, GenerationListener.NONE));
            }
            recorder.open(); // the first prompt chunk waited for this: every request is queued by now
            int generated = 0;
            int promptTokens = 0;
            for (int i = 0; i < requests.size(); i++) {
                GenerationResult r = generations.get(i).join();
                assertArrayEquals(sequential.get(i), r.tokens(), "request " + i + " (" + PROMPTS[i] + ")");
                assertEquals(maxTokens[i], r.generatedTokenCount(), "runs to maxTokens");
                generated += r.generatedTokenCount();
                promptTokens += requests.get(i).promptTokens().length;
            }
            Schedule s = recorder.schedule(requests, results(generations));
            s.check();
            // Round 1 prefills what was admitted (at least the first request), round 2 the rest: by round 3 all
            // six decode together (the shortest, 3 tokens, is still running).
            assertEquals(requests.size(), s.maxBatch(), "the largest decode step holds every request");
            // A step's counters are added after its sequences complete: wait for the last one.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (e.stats().decodeTokens() < generated - requests.size() && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
            long wall = System.nanoTime() - t0;
            EngineStats stats = e.stats();
            assertEquals(generated, stats.generatedTokens());
            assertEquals(generated - requests.size(), stats.decodeTokens(), "each decode token counted once");
            assertEquals(s.batchRows(), stats.decodeTokens());
            assertEquals(promptTokens, stats.promptTokens());
            assertTrue(stats.decodeNanos() > 0 && stats.prefillNanos() > 0);
            // A batched step's time is counted once, not once per sequence (that would add up to several walls).
            assertTrue(stats.decodeNanos() <= wall, "decode time " + stats.decodeNanos() + " ns within the wall"
                    + " time " + wall + " ns");
        }
    }

    @Test
    void aRequestJoiningWhileOthersDecodeJoinsTheNextStepAfterItsPrompt() throws Exception {
        EngineOptions options = options(4); // the joining prompt takes several rounds of prefill
        List<GenerationRequest> requests = new ArrayList<>();
        try (InferenceEngine plain = InferenceEngine.load(model(), options)) {
            requests.add(request(plain, PROMPTS[0], 30));
            requests.add(request(plain, PROMPTS[1], 30));
            requests.add(request(plain, PROMPTS[4], 12)); // a longer prompt: several chunks
        }
        List<int[]> sequential = sequential(options, requests);
        Recorder recorder = new Recorder();
        try (InferenceEngine e = recorder.load(options)) {
            AtomicReference<Generation> joining = new AtomicReference<>();
            AtomicInteger tokensOfA = new AtomicInteger();
            Generation a = e.submit(requests.get(0), new GenerationListener() {
                @Override
                public void onToken(int token) {
                    if (tokensOfA.incrementAndGet() == 6) { // on the engine thread, mid-decode: C is admitted next round
                        joining.set(e.submit(requests.get(2), GenerationListener.NONE));
                    }
                }
            });
            Generation b = e.submit(requests.get(1), GenerationListener.NONE);
            recorder.open();
            List<Generation> generations = List.of(a, b, awaitSet(joining));
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(sequential.get(i), generations.get(i).join().tokens(), "request " + i);
            }
            Schedule s = recorder.schedule(requests, results(generations));
            s.check();
            int cacheA = s.cacheOf(0);
            int cacheC = s.cacheOf(2);
            // C's prompt chunks ran between decode steps that advanced A: A was not paused for C's prefill.
            List<Integer> chunksOfC = s.prefillCallsOf(cacheC);
            int promptOfC = requests.get(2).promptTokens().length;
            assertEquals((promptOfC + 3) / 4, chunksOfC.size(), "C's prompt in chunks of 4");
            assertTrue(chunksOfC.size() >= 3, "a prompt of several chunks");
            for (int call : chunksOfC) {
                assertTrue(s.batchBefore(call).contains(cacheA) && s.batchAfter(call).contains(cacheA),
                        "A decoded in the steps around C's prompt chunk (call " + call + ")");
            }
            assertEquals(3, s.maxBatch(), "then all three decode together");
        }
    }

    @Test
    void aSequenceThatFinishesEarlyLeavesTheBatchAndTheOthersCarryOn() throws Exception {
        EngineOptions options = options(64);
        List<GenerationRequest> requests = new ArrayList<>();
        try (InferenceEngine plain = InferenceEngine.load(model(), options)) {
            requests.add(request(plain, PROMPTS[2], 25));
            requests.add(request(plain, PROMPTS[3], 4));
        }
        List<int[]> sequential = sequential(options, requests);
        Recorder recorder = new Recorder();
        try (InferenceEngine e = recorder.load(options)) {
            Generation a = e.submit(requests.get(0), GenerationListener.NONE);
            Generation b = e.submit(requests.get(1), GenerationListener.NONE);
            recorder.open();
            assertArrayEquals(sequential.get(0), a.join().tokens());
            assertArrayEquals(sequential.get(1), b.join().tokens());
            Schedule s = recorder.schedule(requests, results(List.of(a, b)));
            s.check();
            List<Integer> sizes = s.batchSizes();
            // B decodes 3 tokens (its first came from its prompt), in the three steps after its prefill.
            int withB = (int) sizes.stream().filter(n -> n == 2).count();
            assertEquals(3, withB, "sizes " + sizes);
            assertEquals(24, sizes.size(), "A decodes 24 tokens, one step each: " + sizes);
            int lastPair = sizes.lastIndexOf(2);
            assertTrue(sizes.subList(lastPair + 1, sizes.size()).stream().allMatch(n -> n == 1),
                    "after B leaves, A decodes alone: " + sizes);
        }
    }

    @Test
    void cancellingOneSequenceMidBatchFreesItsCacheAndTheOthersCarryOn() throws Exception {
        EngineOptions options = options(64);
        List<GenerationRequest> requests = new ArrayList<>();
        try (InferenceEngine plain = InferenceEngine.load(model(), options)) {
            requests.add(request(plain, PROMPTS[0], 20));
            requests.add(request(plain, PROMPTS[1], 20));
            requests.add(request(plain, PROMPTS[5], 20));
        }
        List<int[]> sequential = sequential(options, requests);
        Recorder recorder = new Recorder();
        // Prefix reuse on (the default budget): finished sequences keep their caches, the cancelled one must not.
        try (InferenceEngine e = recorder.load(options.withPrefixCacheBytes(EngineOptions.AUTO_PREFIX_CACHE))) {
            AtomicReference<Generation> handleB = new AtomicReference<>();
            AtomicInteger tokensOfA = new AtomicInteger();
            AtomicInteger tokensOfBAfterCancel = new AtomicInteger();
            // A is ahead of B in the batch: A's listener cancels B between computing B's logits and consuming them.
            Generation a = e.submit(requests.get(0), new GenerationListener() {
                @Override
                public void onToken(int token) {
                    if (tokensOfA.incrementAndGet() == 5) {
                        handleB.get().cancel();
                    }
                }
            });
            Generation b = e.submit(requests.get(1), new GenerationListener() {
                @Override
                public void onToken(int token) {
                    if (handleB.get().isCancelled()) {
                        tokensOfBAfterCancel.incrementAndGet();
                    }
                }
            });
            handleB.set(b);
            Generation c = e.submit(requests.get(2), GenerationListener.NONE);
            recorder.open();
            assertArrayEquals(sequential.get(0), a.join().tokens());
            assertArrayEquals(sequential.get(2), c.join().tokens());
            GenerationResult rb = b.join();
            assertEquals(FinishReason.CANCELLED, rb.finishReason());
            assertEquals(0, tokensOfBAfterCancel.get(), "no token of B after the cancellation");
            assertArrayEquals(Arrays.copyOf(sequential.get(1), rb.generatedTokenCount()), rb.tokens(),
                    "what B produced before is its sequential output");
            Schedule s = recorder.schedule(requests, List.of(a.join(), rb, c.join()));
            int cacheB = s.cacheOf(1);
            // B's first token came from its prompt, one more from each decode step it was in, except the last
            // one, whose logits were computed and dropped: it was cancelled in the middle of that step.
            assertEquals(s.batchesWith(cacheB).size(), rb.generatedTokenCount(), "tokens of B vs. its decode steps");
            assertTrue(rb.generatedTokenCount() >= 3, "B was cancelled while decoding");
            EngineStats stats = e.stats();
            assertEquals(0, stats.running());
            assertEquals(0, stats.runningKvCacheBytes(), "every running KV cache was handed back");
            assertEquals(2, stats.prefixCacheEntries(), "A's and C's caches are kept for reuse, B's was freed");
        }
    }

    // ---------------------------------------------------------------------------------------------------------

    private static GenerationRequest request(InferenceEngine e, String prompt, int maxTokens) {
        return GenerationRequest.of(e.tokenizer().encode(prompt, true, false), maxTokens, SamplingParams.GREEDY);
    }

    /** Each request alone, one after another, on a plain engine with the same options. */
    private static List<int[]> sequential(EngineOptions options, List<GenerationRequest> requests) {
        List<int[]> out = new ArrayList<>();
        try (InferenceEngine e = InferenceEngine.load(model(), options.withPrefixCacheBytes(0))) {
            for (GenerationRequest r : requests) {
                out.add(e.generate(r, GenerationListener.NONE).tokens());
            }
        }
        return out;
    }

    private static List<GenerationResult> results(List<Generation> generations) {
        List<GenerationResult> out = new ArrayList<>();
        for (Generation g : generations) {
            out.add(g.join());
        }
        return out;
    }

    private static Generation awaitSet(AtomicReference<Generation> ref) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (ref.get() == null && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertNotNull(ref.get(), "the joining request was submitted");
        return ref.get();
    }

    /** One forward call: a prompt chunk of one cache, or a decode step of several. */
    record Call(boolean batch, int[] caches, int[] tokens, int startPos, int count) {}

    /**
     * Wraps the engine's forward pass and records every call; the first call waits until {@link #open} so that
     * a test can queue its requests before anything runs.
     */
    static final class Recorder {
        final List<Call> calls = Collections.synchronizedList(new ArrayList<>());
        private final Map<KvCache, Integer> ids = Collections.synchronizedMap(new IdentityHashMap<>());
        private final CountDownLatch gate = new CountDownLatch(1);

        InferenceEngine load(EngineOptions options) {
            return InferenceEngine.load(model(), options, (pass, tokenizer) -> new RecordingPass(pass, this));
        }

        void open() {
            gate.countDown();
        }

        private void await() {
            try {
                assertTrue(gate.await(30, TimeUnit.SECONDS), "the test opened the gate");
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        }

        Schedule schedule(List<GenerationRequest> requests, List<GenerationResult> results) {
            synchronized (calls) {
                return new Schedule(List.copyOf(calls), requests, results);
            }
        }
    }

    private static final class RecordingPass extends DelegatingForwardPass {
        private final Recorder recorder;

        RecordingPass(ForwardPass pass, Recorder recorder) {
            super(pass);
            this.recorder = recorder;
        }

        private int id(KvCache cache) {
            Integer id = recorder.ids.get(cache);
            assertNotNull(id, "a KV cache of this pass");
            return id;
        }

        @Override
        public void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits) {
            recorder.await();
            recorder.calls.add(new Call(false, new int[] {id(cache)}, tokens, startPos, count));
            pass.forward(cache, tokens, offset, count, startPos, logits);
        }

        @Override
        public void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
            int[] ids = new int[batch];
            for (int b = 0; b < batch; b++) {
                ids[b] = id(caches[b]);
            }
            recorder.calls.add(new Call(true, ids, Arrays.copyOf(tokens, batch), -1, batch));
            pass.forwardBatch(caches, tokens, positions, batch, logits);
        }

        @Override
        public KvCache newKvCache(int capacity) {
            KvCache c = pass.newKvCache(capacity);
            synchronized (recorder.ids) {
                recorder.ids.put(c, recorder.ids.size());
            }
            return c;
        }
    }

    /** The recorded calls, with each request's KV cache identified by the prompt its chunks carry. */
    static final class Schedule {
        private final List<Call> calls;
        private final List<GenerationRequest> requests;
        private final List<GenerationResult> results;
        private final int[] cacheOfRequest;

        Schedule(List<Call> calls, List<GenerationRequest> requests, List<GenerationResult> results) {
            this.calls = calls;
            this.requests = requests;
            this.results = results;
            this.cacheOfRequest = new int[requests.size()];
            Arrays.fill(cacheOfRequest, -1);
            for (Call c : calls) {
                if (c.batch()) {
                    continue;
                }
                int r = requestOfPrompt(c.tokens());
                assertTrue(r >= 0, "forward is only called with a request's prompt (decode goes through"
                        + " forwardBatch), got an array of " + c.tokens().length + " tokens");
                assertTrue(cacheOfRequest[r] == -1 || cacheOfRequest[r] == c.caches()[0], "request " + r + " has one cache");
                cacheOfRequest[r] = c.caches()[0];
            }
        }

        private int requestOfPrompt(int[] tokens) {
            for (int r = 0; r < requests.size(); r++) {
                if (Arrays.equals(tokens, requests.get(r).promptTokens())) {
                    return r;
                }
            }
            return -1;
        }

        int cacheOf(int request) {
            return cacheOfRequest[request];
        }

        List<Integer> batchSizes() {
            List<Integer> out = new ArrayList<>();
            for (Call c : calls) {
                if (c.batch()) {
                    out.add(c.count());
                }
            }
            return out;
        }

        int maxBatch() {
            return batchSizes().stream().mapToInt(Integer::intValue).max().orElse(0);
        }

        int batchRows() {
            return batchSizes().stream().mapToInt(Integer::intValue).sum();
        }

        /** Indices into the list of batch calls of those that contain {@code cache}. */
        List<Integer> batchesWith(int cache) {
            List<Integer> out = new ArrayList<>();
            int k = 0;
            for (Call c : calls) {
                if (c.batch()) {
                    if (contains(c.caches(), cache)) {
                        out.add(k);
                    }
                    k++;
                }
            }
            return out;
        }

        /** Indices into all calls of {@code cache}'s prompt chunks. */
        List<Integer> prefillCallsOf(int cache) {
            List<Integer> out = new ArrayList<>();
            for (int i = 0; i < calls.size(); i++) {
                if (!calls.get(i).batch() && calls.get(i).caches()[0] == cache) {
                    out.add(i);
                }
            }
            return out;
        }

        /** The caches of the last batch call before call {@code index} (empty if none). */
        List<Integer> batchBefore(int index) {
            for (int i = index - 1; i >= 0; i--) {
                if (calls.get(i).batch()) {
                    return Arrays.stream(calls.get(i).caches()).boxed().toList();
                }
            }
            return List.of();
        }

        /** The caches of the first batch call after call {@code index} (empty if none). */
        List<Integer> batchAfter(int index) {
            for (int i = index + 1; i < calls.size(); i++) {
                if (calls.get(i).batch()) {
                    return Arrays.stream(calls.get(i).caches()).boxed().toList();
                }
            }
            return List.of();
        }

        /**
         * The rules of continuous batching, for every request that ran to its end: its prompt went in chunks, at
         * most {@link Scheduler#PREFILL_CHUNKS_PER_ROUND} of all prompts per round (between two decode steps), one
         * prompt's chunks after another's; it joined the first decode step after its last chunk and was in every step
         * from then on until it ended, one step per token after the first.
         */
        void check() {
            // Between two decode steps that share a sequence lies exactly one round: at most that many prompt chunks,
            // each cache's in one run. (Without a decoding sequence a round has no decode step to mark it.)
            int prevBatch = -1;
            for (int i = 0; i < calls.size(); i++) {
                Call c = calls.get(i);
                if (!c.batch()) {
                    continue;
                }
                assertEquals(c.caches().length, Arrays.stream(c.caches()).distinct().count(),
                        "a sequence appears once in a step: " + Arrays.toString(c.caches()));
                if (prevBatch >= 0 && shareASequence(calls.get(prevBatch).caches(), c.caches())) {
                    assertTrue(i - prevBatch - 1 <= Scheduler.PREFILL_CHUNKS_PER_ROUND, (i - prevBatch - 1)
                            + " prompt chunks in one round (calls " + prevBatch + ".." + i + ")");
                    List<Integer> runs = new ArrayList<>();
                    for (int j = prevBatch + 1; j < i; j++) {
                        int cache = calls.get(j).caches()[0];
                        if (runs.isEmpty() || runs.getLast() != cache) {
                            assertFalse(runs.contains(cache), "cache " + cache + "'s prompt chunks interleaved with"
                                    + " another's in one round (calls " + prevBatch + ".." + i + ")");
                            runs.add(cache);
                        }
                    }
                }
                prevBatch = i;
            }
            for (int r = 0; r < requests.size(); r++) {
                GenerationResult result = results.get(r);
                if (result.finishReason() == FinishReason.CANCELLED) {
                    continue;
                }
                int cache = cacheOfRequest[r];
                assertTrue(cache >= 0, "request " + r + " was prefilled");
                List<Integer> chunks = prefillCallsOf(cache);
                int prompt = requests.get(r).promptTokens().length;
                int covered = 0;
                for (int call : chunks) {
                    Call c = calls.get(call);
                    assertEquals(covered, c.startPos(), "request " + r + ": chunks in order");
                    covered += c.count();
                }
                assertEquals(prompt, covered, "request " + r + ": the whole prompt, once");
                List<Integer> steps = batchesWith(cache);
                assertEquals(result.generatedTokenCount() - 1, steps.size(), "request " + r
                        + ": one decode step per token after the first");
                if (steps.isEmpty()) {
                    continue;
                }
                for (int k = 1; k < steps.size(); k++) {
                    assertEquals(steps.get(k - 1) + 1, steps.get(k), "request " + r + " is in every decode step"
                            + " from its first to its last: " + steps);
                }
                int lastChunk = chunks.get(chunks.size() - 1);
                int firstStepAfterPrompt = (int) calls.subList(0, lastChunk).stream().filter(Call::batch).count();
                assertEquals(firstStepAfterPrompt, steps.get(0), "request " + r
                        + " joins the first decode step after its prompt");
            }
        }

        private static boolean shareASequence(int[] a, int[] b) {
            for (int x : b) {
                if (contains(a, x)) {
                    return true;
                }
            }
            return false;
        }

        private static boolean contains(int[] values, int v) {
            for (int x : values) {
                if (x == v) {
                    return true;
                }
            }
            return false;
        }
    }
}

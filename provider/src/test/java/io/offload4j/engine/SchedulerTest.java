package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.testing.SharedData;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The scheduler: concurrency, interleaving, cancellation, failures, shutdown. */
@Timeout(60)
class SchedulerTest {

    private static final String[] PROMPTS = {"Once upon a time", "The little dog", "Tom and Sue went", "One day, a bird",
            "Lily saw a big", "There was a boy", "The sun was", "Mom said"};

    /** Prefix reuse off: the sequential reference and the concurrent run compute exactly the same steps. */
    private static InferenceEngine engine;

    @BeforeAll
    static void load() {
        engine = InferenceEngine.load(SharedData.require("models/stories260K.gguf"),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(0));
    }

    @AfterAll
    static void close() {
        if (engine != null) {
            engine.close();
        }
    }

    private static GenerationRequest request(InferenceEngine e, String prompt, int maxTokens) {
        return GenerationRequest.of(e.tokenizer().encode(prompt, true, false), maxTokens, SamplingParams.GREEDY);
    }

    @Test
    void eightConcurrentCallersGetTheirSequentialGreedyOutputs() throws Exception {
        List<int[]> sequential = new ArrayList<>();
        for (String p : PROMPTS) {
            sequential.add(engine.generate(request(engine, p, 40), GenerationListener.NONE).tokens());
        }
        // Every listener call happens on the engine thread, in order: record which sequence each token belongs to.
        List<Integer> order = new ArrayList<>();
        Set<Thread> listenerThreads = ConcurrentHashMap.newKeySet();
        CountDownLatch start = new CountDownLatch(1);
        ExecutorService callers = Executors.newFixedThreadPool(PROMPTS.length);
        try {
            List<Future<GenerationResult>> results = new ArrayList<>();
            for (int i = 0; i < PROMPTS.length; i++) {
                int id = i;
                results.add(callers.submit(() -> {
                    start.await();
                    return engine.generate(request(engine, PROMPTS[id], 40), new GenerationListener() {
                        @Override
                        public void onToken(int token) {
                            listenerThreads.add(Thread.currentThread());
                            order.add(id); // single engine thread: no synchronisation needed, checked below
                        }
                    });
                }));
            }
            start.countDown();
            for (int i = 0; i < PROMPTS.length; i++) {
                GenerationResult r = results.get(i).get(30, TimeUnit.SECONDS);
                assertArrayEquals(sequential.get(i), r.tokens(), "caller " + i + " (" + PROMPTS[i] + ")");
            }
        } finally {
            callers.shutdownNow();
        }
        assertEquals(1, listenerThreads.size(), "all listener calls on one engine thread");
        assertTrue(listenerThreads.iterator().next().getName().startsWith("offload4j-engine-"));
        assertEquals(PROMPTS.length * 40, order.size());
        // Interleaved token by token, not FIFO: some sequence's tokens are followed by another's before it ends.
        int switches = 0;
        for (int i = 1; i < order.size(); i++) {
            if (!order.get(i).equals(order.get(i - 1))) {
                switches++;
            }
        }
        assertTrue(switches > PROMPTS.length * 10, "sequences interleave (" + switches + " switches)");
        EngineStats stats = engine.stats();
        assertEquals(0, stats.running());
        assertEquals(0, stats.runningKvCacheBytes());
    }

    /**
     * Prompts that arrive together are prefilled first come, first served, a few chunks a round
     * ({@link Scheduler#PREFILL_CHUNKS_PER_ROUND}): the first request's first token comes once its own prompt is in,
     * not after every prompt admitted with it (as one chunk per prompt per round had it). Three 40-token prompts in chunks of 8 (5 chunks each), admitted in one round while a blocker's
     * listener holds the engine thread.
     */
    @Test
    void promptsThatArriveTogetherArePrefilledFirstComeFirstServed() throws Exception {
        try (InferenceEngine e = InferenceEngine.load(SharedData.require("models/stories260K.gguf"),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(0).withChunkTokens(8))) {
            CountDownLatch blocking = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            int[] blockerPrompt = e.tokenizer().encode("Mom said", true, false);
            Generation blocker = e.submit(GenerationRequest.of(blockerPrompt, 1, SamplingParams.GREEDY),
                    new GenerationListener() {
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
            assertTrue(blocking.await(30, TimeUnit.SECONDS));
            // the blocker's prompt is counted once its call returns, as every chunk is: after the token it emitted
            long before = e.stats().promptTokens() + blockerPrompt.length;
            SplittableRandom rnd = new SplittableRandom(3);
            long[] promptTokensAtFirstToken = new long[3];
            List<Generation> gens = new ArrayList<>();
            for (int r = 0; r < 3; r++) {
                int[] prompt = new int[40];
                for (int i = 0; i < prompt.length; i++) {
                    prompt[i] = 3 + rnd.nextInt(e.tokenizer().vocabularySize() - 3);
                }
                int id = r;
                gens.add(e.submit(GenerationRequest.of(prompt, 2, SamplingParams.GREEDY), new GenerationListener() {
                    @Override
                    public void onToken(int token) {
                        if (promptTokensAtFirstToken[id] == 0) { // the engine thread: its stats are current
                            promptTokensAtFirstToken[id] = e.stats().promptTokens() - before;
                        }
                    }
                }));
            }
            release.countDown();
            blocker.result().get(30, TimeUnit.SECONDS);
            for (Generation g : gens) {
                g.result().get(30, TimeUnit.SECONDS);
            }
            // counted when each request's first token came, less that request's last chunk (still being counted):
            // its own prompt and those before it; one chunk per prompt per round gave 96, 104, 112
            assertArrayEquals(new long[] {32, 72, 112}, promptTokensAtFirstToken,
                    "prompt tokens processed when each request's first token came");
        }
    }

    @Test
    void cancellingStopsBeforeTheNextTokenAndFreesTheKvCache() throws Exception {
        try (InferenceEngine e = InferenceEngine.load(SharedData.require("models/stories260K.gguf"),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1))) {
            AtomicReference<Generation> handle = new AtomicReference<>();
            CountDownLatch handleSet = new CountDownLatch(1);
            AtomicInteger tokensAfterCancel = new AtomicInteger();
            AtomicInteger tokens = new AtomicInteger();
            GenerationListener listener = new GenerationListener() {
                @Override
                public void onPromptProcessed(int promptTokens, long nanos) {
                    try {
                        handleSet.await(); // the test thread has stored the handle
                    } catch (InterruptedException ex) {
                        throw new IllegalStateException(ex);
                    }
                }

                @Override
                public void onToken(int token) {
                    if (handle.get().isCancelled()) {
                        tokensAfterCancel.incrementAndGet();
                    }
                    if (tokens.incrementAndGet() == 3) {
                        handle.get().cancel();
                    }
                }
            };
            Generation g = e.submit(request(e, "Once upon a time", 60), listener);
            handle.set(g);
            handleSet.countDown();
            GenerationResult r = g.join();
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertEquals(3, r.generatedTokenCount());
            assertEquals(0, tokensAfterCancel.get());
            EngineStats stats = e.stats();
            assertEquals(0, stats.runningKvCacheBytes(), "the cancelled sequence's KV cache was released");
            assertEquals(0, stats.prefixCacheEntries(), "and freed, not kept for reuse");

            // A normal completion, by contrast, keeps its KV cache for prefix reuse.
            e.generate(request(e, "Once upon a time", 10), GenerationListener.NONE);
            assertEquals(1, e.stats().prefixCacheEntries());
        }
    }

    @Test
    void aQueuedRequestCanBeCancelledWithoutWork() throws Exception {
        try (InferenceEngine e = InferenceEngine.load(SharedData.require("models/stories260K.gguf"),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withMaxSequences(1).withPrefixCacheBytes(0))) {
            CountDownLatch release = new CountDownLatch(1);
            CountDownLatch firstRunning = new CountDownLatch(1);
            Generation first = e.submit(request(e, "Once upon a time", 20), new GenerationListener() {
                @Override
                public void onPromptProcessed(int promptTokens, long nanos) {
                    firstRunning.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException ex) {
                        throw new IllegalStateException(ex);
                    }
                }
            });
            assertTrue(firstRunning.await(10, TimeUnit.SECONDS));
            AtomicInteger calls = new AtomicInteger();
            Generation second = e.submit(request(e, "The little dog", 20), new GenerationListener() {
                @Override
                public void onPromptProcessed(int promptTokens, long nanos) {
                    calls.incrementAndGet();
                }
            });
            assertEquals(1, e.stats().queued(), "one sequence at a time: the second waits");
            second.cancel();
            release.countDown();
            GenerationResult r = second.join();
            assertEquals(FinishReason.CANCELLED, r.finishReason());
            assertEquals(0, r.generatedTokenCount());
            assertEquals(0, calls.get(), "never admitted");
            assertEquals(FinishReason.LENGTH, first.join().finishReason());
        }
    }

    @Test
    void aThrowingListenerFailsItsGenerationOnly() throws Exception {
        RuntimeException boom = new RuntimeException("listener bug");
        AtomicReference<Throwable> seen = new AtomicReference<>();
        Generation g = engine.submit(request(engine, "Once upon a time", 30), new GenerationListener() {
            int n;

            @Override
            public void onText(String text) {
                if (++n == 2) {
                    throw boom;
                }
            }

            @Override
            public void onError(Throwable error) {
                seen.set(error);
            }
        });
        RuntimeException thrown = assertThrows(RuntimeException.class, g::join);
        assertSame(boom, thrown);
        assertSame(boom, seen.get());
        assertEquals(0, engine.stats().runningKvCacheBytes());
        // The engine carries on.
        GenerationResult next = engine.generate(request(engine, "Once upon a time", 5), GenerationListener.NONE);
        assertEquals(5, next.generatedTokenCount());
    }

    @Test
    void closingFailsQueuedAndRunningRequestsAndRefusesNewOnes() throws Exception {
        InferenceEngine e = InferenceEngine.load(SharedData.require("models/stories260K.gguf"),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withMaxSequences(1));
        CountDownLatch running = new CountDownLatch(1);
        Generation a = e.submit(request(e, "Once upon a time", 100), new GenerationListener() {
            @Override
            public void onToken(int token) {
                running.countDown();
            }
        });
        Generation b = e.submit(request(e, "The little dog", 10), GenerationListener.NONE);
        assertTrue(running.await(10, TimeUnit.SECONDS));
        e.close();
        assertTrue(a.isDone() && b.isDone(), "close waits for the scheduler");
        String msgA = assertThrows(IllegalStateException.class, a::join).getMessage();
        assertTrue(msgA.contains("closed"), msgA);
        assertThrows(IllegalStateException.class, b::join);
        String msg = assertThrows(IllegalStateException.class,
                () -> e.submit(request(e, "x", 1), GenerationListener.NONE)).getMessage();
        assertTrue(msg.contains("closed"), msg);
        e.close(); // idempotent
    }

    @Test
    void closingFromAListenerDoesNotDeadlock() throws Exception {
        InferenceEngine e = InferenceEngine.load(SharedData.require("models/stories260K.gguf"),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1));
        Generation g = e.submit(request(e, "Once upon a time", 50), new GenerationListener() {
            @Override
            public void onToken(int token) {
                e.close();
            }
        });
        assertThrows(IllegalStateException.class, g::join);
        assertThrows(IllegalStateException.class, () -> e.submit(request(e, "x", 1), GenerationListener.NONE));
    }

    @Test
    void resultsReportQueueingAndPrefill() {
        GenerationResult r = engine.generate(request(engine, "Once upon a time", 5), GenerationListener.NONE);
        assertTrue(r.prefillNanos() > 0);
        assertTrue(r.queueNanos() >= 0);
        assertEquals(0, r.cachedPromptTokens());
        assertNotEquals(0, r.timeToFirstTokenNanos());
        assertFalse(r.text().isEmpty());
    }
}

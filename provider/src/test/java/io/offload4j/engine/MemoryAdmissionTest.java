package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.DelegatingForwardPass;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Automatic max-sequences on a device whose memory holds the KV caches ({@link MemoryAdmission}): the engine admits
 * requests while the device memory free holds each one's cache (its prompt and max tokens, not the whole context), so
 * short requests run many at a time and the others wait, first in line, for memory; the prefix cache's kept
 * conversations are dropped to make room. A CPU pass stands in for the device: its caches are metered against a
 * memory budget that {@code freeDeviceMemory} reports, 1,000 bytes a position.
 */
class MemoryAdmissionTest {

    private static final long PER_POSITION = 1000;

    @TempDir
    static Path dir;
    static Path model;

    @BeforeAll
    static void writeModel() {
        model = dir.resolve("admission.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), model);
    }

    private static EngineOptions options() {
        return EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withChunkTokens(16);
    }

    private static List<int[]> prompts(int n) {
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new SplittableRandom(70 + i).ints(10, 3, 512).toArray());
        }
        return out;
    }

    private static List<int[]> run(InferenceEngine e, List<int[]> prompts, int maxTokens) {
        List<Generation> all = new ArrayList<>();
        for (int[] p : prompts) {
            all.add(e.submit(GenerationRequest.of(p, maxTokens, SamplingParams.GREEDY), GenerationListener.NONE));
        }
        List<int[]> out = new ArrayList<>();
        for (Generation g : all) {
            out.add(g.join().tokens());
        }
        return out;
    }

    @Test
    void requestsRunAsManyAtATimeAsTheFreeMemoryHoldsAndTheRestWait() {
        List<int[]> prompts = prompts(8);
        List<int[]> want;
        try (InferenceEngine plain = InferenceEngine.load(model, options().withPrefixCacheBytes(0))) {
            want = run(plain, prompts, 22);
        }
        // each request reaches 10 + 22 = 32 positions: room for 3 of them beside the margin
        long budget = InferenceEngine.AUTO_SEQUENCES_MARGIN_BYTES + 3 * 32 * PER_POSITION + 500;
        Metered[] pass = new Metered[1];
        try (InferenceEngine e = InferenceEngine.load(model, options().withPrefixCacheBytes(0),
                (p, tokenizer) -> pass[0] = new Metered(p, budget))) {
            assertTrue(e.maxSequences() > 3, "auto: the batch rows, memory decides: " + e.maxSequences());
            assertTrue(e.memoryReport().contains("admitted while the GPU's free memory holds its KV cache"),
                    e.memoryReport());
            List<int[]> got = run(e, prompts, 22);
            assertSameReplies(want, got);
        }
        assertEquals(3, pass[0].mostLive, "as many at once as fit, no more");
        assertEquals(0, pass[0].liveBytes, "every cache freed");
    }

    @Test
    void aRequestLargerThanTheFreeMemoryRunsAloneRatherThanWaitingForever() {
        long budget = InferenceEngine.AUTO_SEQUENCES_MARGIN_BYTES + 16 * PER_POSITION; // less than one request's 32
        try (InferenceEngine e = InferenceEngine.load(model, options().withPrefixCacheBytes(0),
                (p, tokenizer) -> new Metered(p, budget))) {
            List<int[]> got = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                    java.time.Duration.ofSeconds(60), () -> run(e, prompts(2), 22));
            assertEquals(2, got.size());
            assertTrue(got.stream().allMatch(t -> t.length == 22), "both ran to their length, one after the other");
        }
    }

    @Test
    void keptConversationsAreDroppedToMakeRoom() {
        List<int[]> prompts = prompts(4);
        long budget = InferenceEngine.AUTO_SEQUENCES_MARGIN_BYTES + 2 * 32 * PER_POSITION + 500;
        Metered[] pass = new Metered[1];
        try (InferenceEngine e = InferenceEngine.load(model, options().withPrefixCacheBytes(1L << 20),
                (p, tokenizer) -> pass[0] = new Metered(p, budget))) {
            run(e, prompts.subList(0, 2), 22); // two conversations kept: the memory is full
            assertEquals(2, e.stats().prefixCacheEntries());
            run(e, prompts.subList(2, 4), 22); // two new ones at once: the kept ones make room
            assertTrue(e.stats().prefixEvictions() >= 1, e.stats().toString());
            assertEquals(2, pass[0].mostLive, "never more than the memory holds, kept caches included");
        }
    }

    /**
     * Requests without max tokens (each may run to the end of the 512-position context): their caches start with the
     * prompt and {@link KvGrowth#FIRST_REPLY_ROOM} positions, so two start at once where two whole contexts would not
     * fit; the first to outgrow its cache doubles it, which the free memory holds only once the other is suspended;
     * that one waits, is admitted again when the first ends, computes its 266 positions again and decodes on. Both
     * give the tokens of the same requests on a plain engine, and the live caches never exceed the budget. With caches
     * that cannot copy into each other, a growing cache computes its positions again instead; with speculative
     * decoding (prompt lookup), drafts stay within the cache and the drafters start again with the larger one.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "caches copy into larger ones: {0}, speculative: {1}")
    @org.junit.jupiter.params.provider.CsvSource({"true, false", "false, false", "true, true"})
    void requestsWithoutMaxTokensStartSmallAndGrowSuspendingOthersForMemory(boolean copyable, boolean speculative) {
        List<int[]> prompts = prompts(2);
        List<int[]> want;
        try (InferenceEngine plain = InferenceEngine.load(model, options().withPrefixCacheBytes(0))) {
            want = run(plain, prompts, 0);
        }
        int first = 10 + KvGrowth.FIRST_REPLY_ROOM;
        assertTrue(want.stream().allMatch(t -> t.length > first), "the replies outgrow a first cache of " + first
                + " positions: " + want.stream().map(t -> t.length).toList());
        long usable = (first + 512 + 100) * PER_POSITION; // two first caches, or one and a whole context, not both whole
        long budget = InferenceEngine.AUTO_SEQUENCES_MARGIN_BYTES + usable;
        Metered[] pass = new Metered[1];
        EngineOptions options = options().withPrefixCacheBytes(0);
        if (speculative) {
            options = options.withSpeculative(io.offload4j.engine.speculative.SpeculativeOptions.promptLookupDefaults()
                    .withMaxDraftTokens(4));
        }
        try (InferenceEngine e = InferenceEngine.load(model, options,
                (p, tokenizer) -> pass[0] = new Metered(p, budget, copyable))) {
            List<int[]> got = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                    java.time.Duration.ofSeconds(120), () -> run(e, prompts, 0));
            assertSameReplies(want, got);
            String report = e.memoryReport();
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("grown (\\d+) times so far, (\\d+) sequences"
                    + " suspended").matcher(report);
            assertTrue(m.find(), report);
            assertTrue(Integer.parseInt(m.group(1)) >= 1 && Integer.parseInt(m.group(2)) >= 1, report);
        }
        assertEquals(2, pass[0].mostLive, "both started at once");
        assertTrue(pass[0].capacities.contains(first) && pass[0].capacities.contains(512), pass[0].capacities.toString());
        // the suspended one, admitted again, starts with its tokens so far and 256 positions: the whole context, or short
        // of it by how many steps it started after the first (its last token is not written: 511 positions hold it)
        assertTrue(pass[0].capacities.stream().filter(c -> c >= 511).count() >= 2,
                "each ended with a cache that holds its whole reply: " + pass[0].capacities);
        assertTrue(pass[0].mostLiveBytes <= usable, pass[0].capacities + ": live caches " + pass[0].mostLiveBytes
                + " bytes, more than the " + usable + " the budget leaves beside the margin");
        assertEquals(0, pass[0].liveBytes, "every cache freed");
    }

    /**
     * A request cancelled while suspended for another's growing cache ends at once as cancelled, without waiting for
     * memory to be admitted again (suspended sequences are the first the scheduler takes up, and a cancelled one needs
     * no room); the other runs on to the end of the context with the tokens of a plain run. (The cancellation comes
     * from the pass, on the scheduler thread, when the larger cache is allocated: right after the suspension.)
     */
    @Test
    void aRequestCancelledWhileSuspendedEndsWithoutWaitingForMemory() {
        List<int[]> prompts = prompts(2);
        int[] want;
        try (InferenceEngine plain = InferenceEngine.load(model, options().withPrefixCacheBytes(0))) {
            want = run(plain, prompts.subList(0, 1), 0).get(0);
        }
        int first = 10 + KvGrowth.FIRST_REPLY_ROOM;
        long budget = InferenceEngine.AUTO_SEQUENCES_MARGIN_BYTES + (first + 512 + 100) * PER_POSITION;
        Generation[] second = new Generation[1];
        try (InferenceEngine e = InferenceEngine.load(model, options().withPrefixCacheBytes(0),
                (p, tokenizer) -> new Metered(p, budget, true) {
                    @Override
                    public KvCache newKvCache(int capacity) {
                        if (capacity == 512 && second[0] != null) {
                            second[0].cancel();
                        }
                        return super.newKvCache(capacity);
                    }
                })) {
            Generation a = e.submit(GenerationRequest.of(prompts.get(0), 0, SamplingParams.GREEDY),
                    GenerationListener.NONE);
            second[0] = e.submit(GenerationRequest.of(prompts.get(1), 0, SamplingParams.GREEDY),
                    GenerationListener.NONE);
            GenerationResult cancelled = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                    java.time.Duration.ofSeconds(60), () -> second[0].join());
            // the other still has about 250 tokens to go: had the cancelled one waited for memory, it would end after it
            org.junit.jupiter.api.Assertions.assertFalse(a.isDone(), "the cancelled request waited for memory");
            assertEquals(FinishReason.CANCELLED, cancelled.finishReason());
            assertTrue(cancelled.tokens().length < first, "cancelled before its cache grew: "
                    + cancelled.tokens().length);
            assertArrayEquals(want, a.join().tokens());
        }
    }

    private static void assertSameReplies(List<int[]> want, List<int[]> got) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            assertArrayEquals(want.get(i), got.get(i), "request " + i);
        }
    }

    /** The test model's KV bytes per position on the CPU. */
    private static long perPosition() {
        try (io.offload4j.model.Model m = io.offload4j.model.Model.load(model)) {
            return MemoryPlan.bytesPerPosition(m.config());
        }
    }

    /**
     * A heap whose share for KV caches ({@link MemoryPlan}) holds {@code positions} of the test model's positions at a
     * context of {@code context}: 75 % of it, less one thread's attention scores.
     */
    private static MemoryPlan.Heap heapFor(long positions, int context) {
        int heads;
        try (io.offload4j.model.Model m = io.offload4j.model.Model.load(model)) {
            heads = m.config().headCount();
        }
        long budget = positions * perPosition();
        long scratch = 4L * heads * context;
        return new MemoryPlan.Heap((long) ((budget + scratch) / MemoryPlan.HEAP_SHARE_FOR_KV) + 1, 0);
    }

    /**
     * KV caches on the Java heap ({@link MemoryAdmission#onHeap}): a heap whose share for KV caches holds three of
     * these requests' reservations (their 32 positions: a page of 64 each) runs three at once, the others waiting, with the tokens of a
     * roomy heap; the number of sequences is not lowered to the whole-context caches the heap holds (one), and the
     * memory report says why.
     */
    @Test
    void onTheHeapRequestsRunAsManyAtATimeAsTheHeapsShareForKvCachesHolds() {
        List<int[]> prompts = prompts(8);
        List<int[]> want;
        EngineOptions options = options().withContextLength(48).withPrefixCacheBytes(0);
        try (InferenceEngine plain = InferenceEngine.load(model, options)) {
            want = run(plain, prompts, 22);
        }
        MemoryPlan.Heap heap = heapFor(3 * 64 + 16, 48); // three requests' 32 positions (a page of 64 each), not four
        Metered[] pass = new Metered[1];
        try (InferenceEngine e = InferenceEngine.load(model, options,
                (p, tokenizer) -> pass[0] = Metered.onHeap(p), heap)) {
            assertEquals(EngineOptions.DEFAULT_MAX_SEQUENCES, e.maxSequences(), "not lowered: the heap decides");
            assertTrue(e.memoryReport().contains("admitted while the Java heap's"), e.memoryReport());
            List<int[]> got = run(e, prompts, 22);
            assertSameReplies(want, got);
        }
        assertEquals(3, pass[0].mostLive, "as many at once as the heap's share holds, no more");
        assertEquals(0, pass[0].live, "every cache closed");
    }

    /**
     * On the heap, kept conversations count: two requests whose reservations are the whole (short) context run at once
     * once a kept conversation is dropped to make room, and a third waits.
     */
    @Test
    void onTheHeapKeptConversationsCountAndMakeRoom() {
        long perPosition = perPosition();
        // two kept conversations (a page of 64 positions each) and two whole contexts of 128 do not fit together,
        // two whole contexts and one kept conversation do, three whole contexts do not
        long budget = 350 * perPosition;
        MemoryPlan.Heap heap = heapFor(350, 128);
        EngineOptions options = options().withContextLength(128).withPrefixCacheBytes(140 * perPosition);
        Metered[] pass = new Metered[1];
        try (InferenceEngine e = InferenceEngine.load(model, options, (p, tokenizer) -> pass[0] = Metered.onHeap(p),
                heap)) {
            run(e, prompts(2), 5); // two short conversations kept
            assertEquals(2, e.stats().prefixCacheEntries());
            java.util.concurrent.atomic.AtomicInteger mostRunning = new java.util.concurrent.atomic.AtomicInteger();
            List<Generation> all = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                int[] prompt = new SplittableRandom(90 + i).ints(10, 3, 512).toArray();
                all.add(e.submit(GenerationRequest.of(prompt, 0, SamplingParams.GREEDY), new GenerationListener() {
                    @Override
                    public void onToken(int token) {
                        mostRunning.accumulateAndGet(e.stats().running(), Math::max);
                    }
                }));
            }
            for (Generation g : all) {
                assertEquals(128 - 10, g.join().tokens().length, "each runs to the end of its context");
            }
            assertEquals(2, mostRunning.get(), "two whole contexts at once, the third waited");
            assertTrue(e.stats().prefixEvictions() >= 1, "kept conversations made room: " + e.stats());
        }
        assertTrue(pass[0].mostLiveBytes <= budget, "live caches (kept ones included) took " + pass[0].mostLiveBytes
                + " bytes, more than the heap's " + budget + " for KV caches");
    }

    /**
     * On the heap, requests without max tokens reserve their prompt and {@link KvGrowth#FIRST_REPLY_ROOM} positions
     * (their caches are made for the whole context and take pages as they go), so two start where two whole contexts
     * would not fit; the first to pass its reservation doubles it, which the heap's share holds only once the other is
     * suspended; that one waits, is admitted again when the first ends, computes its positions again and decodes on.
     * Both give the tokens of a roomy heap; the memory report counts the growth and the suspension.
     */
    @Test
    void onTheHeapRequestsWithoutMaxTokensReserveAFirstReplyAndGrow() {
        EngineOptions options = options().withContextLength(512).withPrefixCacheBytes(0);
        List<int[]> prompts = prompts(2);
        List<int[]> want;
        try (InferenceEngine plain = InferenceEngine.load(model, options)) {
            want = run(plain, prompts, 0);
        }
        int first = 10 + KvGrowth.FIRST_REPLY_ROOM;
        // two first reservations (532 positions) fit, one of them doubled to 512 beside the other does not, alone it does
        MemoryPlan.Heap heap = heapFor(700, 512);
        Metered[] pass = new Metered[1];
        try (InferenceEngine e = InferenceEngine.load(model, options, (p, tokenizer) -> pass[0] = Metered.onHeap(p),
                heap)) {
            List<int[]> got = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                    java.time.Duration.ofSeconds(120), () -> run(e, prompts, 0));
            assertSameReplies(want, got);
            String report = e.memoryReport();
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("reserve the prompt and 256 positions and double"
                    + " as needed: grown (\\d+) times so far, (\\d+) sequences suspended").matcher(report);
            assertTrue(m.find(), report);
            assertTrue(Integer.parseInt(m.group(1)) >= 1 && Integer.parseInt(m.group(2)) >= 1, report);
            assertEquals(0, e.stats().runningKvCacheBytes(), "every reservation given back");
        }
        assertEquals(2, pass[0].mostLive, "both started at once");
        assertTrue(pass[0].capacities.stream().allMatch(cap -> cap == 512), "caches made for the whole context: "
                + pass[0].capacities + " (reservations of " + first + " grow instead)");
        assertEquals(0, pass[0].live, "every cache closed");
    }

    /**
     * The CPU pass with its KV caches metered against {@code budget}: what {@code freeDeviceMemory} says is left; or,
     * {@link #onHeap}, a CPU pass as it is (no device memory to report), its caches only counted.
     */
    private static class Metered extends DelegatingForwardPass {
        private final long budget;
        private final boolean copyable;
        private boolean onHeap;
        long liveBytes;
        long mostLiveBytes;
        int live;
        int mostLive;
        final List<Integer> capacities = new ArrayList<>();
        private final KvCache[] rows = new KvCache[256];

        Metered(ForwardPass pass, long budget) {
            this(pass, budget, true);
        }

        /** {@code copyable} false: no cache copies into another (as sliding-window rings of different sizes). */
        Metered(ForwardPass pass, long budget, boolean copyable) {
            super(pass);
            this.budget = budget;
            this.copyable = copyable;
        }

        /** Counts the caches of a CPU pass that keeps them on the heap, their bytes its own. */
        static Metered onHeap(ForwardPass pass) {
            Metered m = new Metered(pass, 0, true);
            m.onHeap = true;
            return m;
        }

        @Override
        public long freeDeviceMemory() {
            return onHeap ? -1 : budget - liveBytes;
        }

        @Override
        public KvCache newKvCache(int capacity) {
            return new Cache(pass.newKvCache(capacity));
        }

        @Override
        public void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits) {
            pass.forward(real(cache), tokens, offset, count, startPos, logits);
        }

        @Override
        public void forwardBatch(KvCache[] caches, int[] tokens, int[] positions, int batch, float[][] logits) {
            for (int b = 0; b < batch; b++) {
                rows[b] = real(caches[b]);
            }
            pass.forwardBatch(rows, tokens, positions, batch, logits);
        }

        private static KvCache real(KvCache c) {
            return c instanceof Cache m ? m.real : c;
        }

        /** A cache counted in the budget from creation to close (every cache the engine holds: running or kept). */
        private final class Cache implements KvCache {
            final KvCache real;
            private boolean closed;

            Cache(KvCache real) {
                this.real = real;
                liveBytes += byteSize();
                live++;
                if (real.capacity() > 1) { // the engine's one-position probe is not a request's cache
                    mostLive = Math.max(mostLive, live);
                    mostLiveBytes = Math.max(mostLiveBytes, liveBytes);
                    capacities.add(real.capacity());
                }
            }

            @Override
            public int capacity() {
                return real.capacity();
            }

            @Override
            public int maxRewind() {
                return real.maxRewind();
            }

            @Override
            public boolean canCopyPrefix(KvCache source) {
                return copyable && real.canCopyPrefix(real(source));
            }

            @Override
            public void copyPrefix(KvCache source, int positions) {
                real.copyPrefix(real(source), positions);
            }

            @Override
            public long byteSize() {
                return onHeap ? real.byteSize() : real.capacity() * PER_POSITION;
            }

            @Override
            public long heldBytes() {
                return onHeap ? real.heldBytes() : byteSize();
            }

            @Override
            public long bytesHolding(int positions) {
                return onHeap ? real.bytesHolding(positions) : byteSize();
            }

            @Override
            public void close() {
                if (!closed) {
                    closed = true;
                    liveBytes -= byteSize();
                    live--;
                    real.close();
                }
            }
        }
    }
}

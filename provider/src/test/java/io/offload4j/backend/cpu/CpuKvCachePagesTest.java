package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The CPU's KV caches in pages ({@link CpuKvCache}, {@link KvPages}): the page size changes no logit, a copied prefix
 * shares whole pages, a cache about to write a shared page copies it first, and pages go back to their pool.
 */
class CpuKvCachePagesTest {

    private static final int CONTEXT = 64;
    private static final int CHUNK = 4;
    /**
     * Logits that must be the same floats but for the JIT: the Vector API's exp and tanh differ by an ulp or so
     * between its interpreted fallback and its compiled intrinsics, so two runs in one JVM differ in the last bits
     * even with the same pages. A row read from a wrong page or position moves logits by 1e-2 and more.
     */
    private static final float SAME = 2e-5f;

    @TempDir
    Path dir;

    private Model model(Architecture arch, QuantPreset q) {
        Path p = dir.resolve(arch + "-" + q + ".gguf");
        SyntheticModelWriter.write(arch == Architecture.GEMMA2 ? SyntheticModelSpec.tinyGemma(arch, q, 5)
                : SyntheticModelSpec.tiny(arch, q), p);
        return Model.load(p);
    }

    private static CpuForwardPass pass(Model m, int pagePositions) {
        return new CpuForwardPass(m, new CpuThreadPool(2), CONTEXT, CHUNK, pagePositions);
    }

    private static int[] tokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = r.nextInt(vocab);
        }
        return t;
    }

    /**
     * Pages of 8 positions and of 3 (prompt chunks and a batch's rows straddle their edges) give the logits of
     * one page that holds the whole context: a prompt in chunks, then two sequences decoded together.
     */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"LLAMA, F32", "QWEN3, Q4_K_M", "GEMMA2, F32"})
    void thePageSizeChangesNoLogit(Architecture arch, QuantPreset quant) {
        try (Model m = model(arch, quant)) {
            List<float[]> onePage = run(m, CONTEXT);
            for (int pagePositions : new int[] {8, 3}) {
                List<float[]> paged = run(m, pagePositions);
                for (int i = 0; i < onePage.size(); i++) {
                    assertArrayEquals(onePage.get(i), paged.get(i), SAME, arch + " " + quant + ", pages of " + pagePositions
                            + ": logits " + i);
                }
            }
        }
    }

    /** Every logit row of: sequence A's 23-token prompt in chunks, B's 9, then 12 steps of both together. */
    private static List<float[]> run(Model m, int pagePositions) {
        int vocab = m.config().vocabularySize();
        List<float[]> out = new ArrayList<>();
        try (CpuForwardPass pass = pass(m, pagePositions); KvCache a = pass.newKvCache(CONTEXT);
             KvCache b = pass.newKvCache(40)) {
            int[] promptA = tokens(23, vocab, 1);
            int[] promptB = tokens(9, vocab, 2);
            for (int p = 0; p < promptA.length; p += CHUNK) {
                float[] logits = new float[vocab];
                pass.forward(a, promptA, p, Math.min(CHUNK, promptA.length - p), p, logits);
                out.add(logits);
            }
            for (int p = 0; p < promptB.length; p += CHUNK) {
                float[] logits = new float[vocab];
                pass.forward(b, promptB, p, Math.min(CHUNK, promptB.length - p), p, logits);
                out.add(logits);
            }
            int[] next = {argmax(out.get(5)), argmax(out.get(out.size() - 1))};
            for (int step = 0; step < 12; step++) {
                float[][] logits = new float[2][vocab];
                pass.forwardBatch(new KvCache[] {a, b}, next.clone(), new int[] {23 + step, 9 + step}, 2, logits);
                out.add(logits[0]);
                out.add(logits[1]);
                next = new int[] {argmax(logits[0]), argmax(logits[1])};
            }
        }
        return out;
    }

    /**
     * A prefix of 19 positions copied from a cache of 20 with pages of 8: pages 0 and 1 are shared, page 2's first
     * three rows copied; both caches then go on exactly as caches that computed everything themselves.
     */
    @Test
    void aCopiedPrefixSharesItsWholePages() {
        try (Model m = model(Architecture.LLAMA, QuantPreset.Q8_0); CpuForwardPass pass = pass(m, 8)) {
            int vocab = m.config().vocabularySize();
            int[] prompt = tokens(30, vocab, 3);
            KvCache lender = pass.newKvCache(CONTEXT);
            prefill(pass, lender, prompt, 0, 20);
            assertEquals(3, pass.pagesInUse());
            KvCache borrower = pass.newKvCache(CONTEXT);
            borrower.copyPrefix(lender, 19);
            assertEquals(4, pass.pagesInUse(), "two pages shared, the third's rows copied into a page of its own");
            long page = lender.heldBytes() / 3;
            assertEquals(3 * page, borrower.heldBytes());
            assertEquals(8 * page, borrower.byteSize(), "its capacity's pages");

            float[] borrowed = continueFrom(pass, borrower, prompt, 19);
            float[] lent = continueFrom(pass, lender, prompt, 20);
            assertArrayEquals(alone(pass, prompt, 20, 19), borrowed, SAME, "the borrower");
            assertArrayEquals(alone(pass, prompt, 20, 20), lent, SAME, "the lender");
            lender.close();
            assertEquals(4, pass.pagesInUse(), "the shared pages stay with the borrower");
            borrower.close();
            assertEquals(0, pass.pagesInUse());
        }
    }

    /**
     * A cache rewound into pages it shares (a kept conversation continued with other tokens) copies each before it
     * writes there: the cache it shares them with still holds its own rows.
     */
    @Test
    void aCacheWritingASharedPageCopiesItFirst() {
        try (Model m = model(Architecture.QWEN3, QuantPreset.F32); CpuForwardPass pass = pass(m, 8)) {
            int vocab = m.config().vocabularySize();
            int[] prompt = tokens(30, vocab, 4);
            int[] other = tokens(30, vocab, 5);
            System.arraycopy(prompt, 0, other, 0, 10);
            try (KvCache lender = pass.newKvCache(CONTEXT); KvCache borrower = pass.newKvCache(CONTEXT)) {
                prefill(pass, lender, prompt, 0, 20);
                borrower.copyPrefix(lender, 16);
                float[] rewound = continueFrom(pass, lender, other, 10); // positions 10.. of page 1, shared
                float[] borrowed = continueFrom(pass, borrower, prompt, 16);
                assertArrayEquals(alone(pass, prompt, 16, 16), borrowed, SAME, "the borrower's pages");
                assertArrayEquals(alone(pass, other, 12, 10), rewound, SAME, "the rewound cache");
            }
            assertEquals(0, pass.pagesInUse());
        }
    }

    /** A cache holds the pages it has reached; closed, it gives them back, and the next cache takes those. */
    @Test
    void aCacheHoldsThePagesItReached() {
        try (Model m = model(Architecture.LLAMA, QuantPreset.F32); CpuForwardPass pass = pass(m, 8)) {
            int[] prompt = tokens(30, m.config().vocabularySize(), 6);
            KvCache cache = pass.newKvCache(CONTEXT);
            assertEquals(0, cache.heldBytes());
            prefill(pass, cache, prompt, 0, 9);
            long page = cache.heldBytes() / 2;
            assertEquals(2, pass.pagesInUse());
            prefill(pass, cache, prompt, 9, 25);
            assertEquals(4 * page, cache.heldBytes());
            cache.close();
            assertEquals(0, pass.pagesInUse());
            cache.close(); // twice: nothing more to give back
            assertEquals(0, pass.pagesInUse());
        }
    }

    /**
     * What a cache will hold once it holds n positions (what the heap's admission counts): its rings, made whole at
     * once, and the pages of those positions; after writing them, exactly what it holds.
     */
    @Test
    void aCacheSaysWhatItWillHold() {
        try (Model m = model(Architecture.GEMMA2, QuantPreset.F32); CpuForwardPass pass = pass(m, 8);
             KvCache cache = pass.newKvCache(CONTEXT)) {
            long rings = cache.bytesHolding(0);
            assertEquals(rings, cache.heldBytes(), "the rings of its sliding blocks, from the start");
            org.junit.jupiter.api.Assertions.assertTrue(rings > 0, "gemma2's sliding blocks keep rings here");
            long page = cache.bytesHolding(1) - rings;
            assertEquals(rings + 3 * page, cache.bytesHolding(17));
            assertEquals(cache.byteSize(), cache.bytesHolding(CONTEXT));
            assertEquals(cache.byteSize(), cache.bytesHolding(10 * CONTEXT), "at most its capacity's");
            prefill(pass, cache, tokens(17, m.config().vocabularySize(), 9), 0, 17);
            assertEquals(cache.bytesHolding(17), cache.heldBytes());
        }
    }

    /** A prefix the source never wrote is refused before anything is shared or copied. */
    @Test
    void aPrefixTheSourceHasNotWrittenIsRefused() {
        try (Model m = model(Architecture.LLAMA, QuantPreset.F32); CpuForwardPass pass = pass(m, 8);
             KvCache source = pass.newKvCache(CONTEXT); KvCache target = pass.newKvCache(CONTEXT)) {
            prefill(pass, source, tokens(12, m.config().vocabularySize(), 7), 0, 12);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> target.copyPrefix(source, 20));
            assertEquals("cannot copy a prefix of 20 positions from a KV cache that has not written positions 16..23",
                    e.getMessage());
            assertEquals(0, target.heldBytes(), "nothing shared");
            assertEquals(2, pass.pagesInUse());
        }
    }

    /** Rows handed over by a GPU (fp16, in chunks that straddle pages) read back as written. */
    @Test
    void rowsHandedOverStraddlePages() {
        try (Model m = model(Architecture.LLAMA, QuantPreset.F32)) {
            int blocks = m.config().blockCount();
            boolean[] all = new boolean[blocks];
            java.util.Arrays.fill(all, true);
            int kvDim = m.config().keyValueDim();
            int positions = 150;
            MemorySegment rows = MemorySegment.ofArray(new byte[4 * positions * kvDim]);
            ValueLayout.OfShort half = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
            SplittableRandom r = new SplittableRandom(8);
            for (int i = 0; i < 2 * positions * kvDim; i++) {
                rows.set(half, 2L * i, Float.floatToFloat16((float) r.nextGaussian()));
            }
            long valuesAt = 2L * positions * kvDim;
            try (CpuBlockRunner runner = new CpuBlockRunner(m, 256, all, 2); KvCache cache = runner.newKvCache(256)) {
                for (int p = 0; p < positions; p += 30) {
                    int n = Math.min(30, positions - p);
                    runner.writeKvRowsHalves(cache, 1, p, n, rows, 2L * p * kvDim, valuesAt + 2L * p * kvDim);
                }
                float[] k = new float[kvDim];
                float[] v = new float[kvDim];
                for (int p = 0; p < positions; p++) {
                    runner.readKv(cache, 1, p, k, v);
                    for (int j = 0; j < kvDim; j++) {
                        assertEquals(Float.float16ToFloat(rows.get(half, 2L * (p * kvDim + j))), k[j], "key " + p);
                        assertEquals(Float.float16ToFloat(rows.get(half, valuesAt + 2L * (p * kvDim + j))), v[j],
                                "value " + p);
                    }
                }
            }
        }
    }

    /** Positions {@code from..end-1} of {@code prompt}, in chunks. */
    private static void prefill(CpuForwardPass pass, KvCache cache, int[] prompt, int from, int end) {
        float[] logits = new float[pass.config().vocabularySize()];
        for (int p = from; p < end; p += CHUNK) {
            pass.forward(cache, prompt, p, Math.min(CHUNK, end - p), p, logits);
        }
    }

    /**
     * What {@link #continueFrom} gives on a cache of its own that computed positions {@code 0..prefilled-1} in chunks
     * from 0 (as the caches under test did before they shared pages).
     */
    private static float[] alone(CpuForwardPass pass, int[] tokens, int prefilled, int from) {
        try (KvCache cache = pass.newKvCache(CONTEXT)) {
            prefill(pass, cache, tokens, 0, prefilled);
            return continueFrom(pass, cache, tokens, from);
        }
    }

    /** The logits of positions {@code from..} of {@code tokens} (to its end), one chunk after another, concatenated. */
    private static float[] continueFrom(CpuForwardPass pass, KvCache cache, int[] tokens, int from) {
        int vocab = pass.config().vocabularySize();
        float[] all = new float[vocab * ((tokens.length - from + CHUNK - 1) / CHUNK)];
        float[] logits = new float[vocab];
        for (int p = from, i = 0; p < tokens.length; p += CHUNK, i++) {
            pass.forward(cache, tokens, p, Math.min(CHUNK, tokens.length - p), p, logits);
            System.arraycopy(logits, 0, all, i * vocab, vocab);
        }
        return all;
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }
}

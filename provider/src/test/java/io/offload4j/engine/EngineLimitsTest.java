package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.KvCache;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.model.Architecture;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.DelegatingForwardPass;
import io.offload4j.testing.SharedData;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 19: token counts that overflow, contexts beyond the model or the memory, and errors that used to kill the
 * engine thread. Each request that goes wrong fails alone, with the engine's own message; the engine keeps serving.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class EngineLimitsTest {

    private static final EngineOptions CPU = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1);
    private static final long MIB = 1 << 20;

    private static Path stories() {
        return SharedData.require("models/stories260K.gguf");
    }

    private static GenerationRequest request(InferenceEngine e, int maxTokens) {
        return GenerationRequest.of(e.tokenizer().encode("Once upon a time", true, false), maxTokens,
                SamplingParams.GREEDY);
    }

    @Test
    void maxTokensOfIntegerMaxValueIsRefusedWithoutWrappingAndLeavesTheCountsRight() {
        try (InferenceEngine e = InferenceEngine.load(stories(), CPU)) {
            ContextLengthExceededException ex = assertThrows(ContextLengthExceededException.class,
                    () -> e.generate(request(e, Integer.MAX_VALUE), GenerationListener.NONE));
            assertTrue(ex.getMessage().contains("max tokens is 2147483647"), ex.getMessage());
            assertTrue(ex.getMessage().contains("together " + (5L + Integer.MAX_VALUE)) || ex.getMessage()
                    .contains("together 2147483"), ex.getMessage());
            GenerationResult ok = e.generate(request(e, 8), GenerationListener.NONE);
            assertEquals(8, ok.tokens().length, "the engine keeps serving");
            assertEquals(0, e.stats().runningKvCacheBytes(), "no running KV cache is counted once all are done");
        }
    }

    @Test
    void aSequenceCapsItsLimitAtTheContextWhateverMaxTokensSays() {
        GenerationRequest r = GenerationRequest.of(new int[] {1, 2, 3}, Integer.MAX_VALUE, SamplingParams.GREEDY);
        assertEquals(100, new Sequence(r, null, 100).limit());
    }

    @Test
    void aContextBeyondTheTrainedOneIsRefusedUnlessAllowedExplicitly() {
        int trained;
        try (InferenceEngine e = InferenceEngine.load(stories(), CPU)) {
            trained = e.config().contextLength();
        }
        IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                () -> InferenceEngine.load(stories(), CPU.withContextLength(1_000_000)).close());
        assertTrue(ex.getMessage().startsWith("context length 1000000 is more than the " + trained + " tokens"),
                ex.getMessage());
        assertTrue(ex.getMessage().contains("withContextBeyondTraining(true)"), ex.getMessage());
        try (InferenceEngine e = InferenceEngine.load(stories(),
                CPU.withContextLength(2 * trained).withContextBeyondTraining(true))) {
            assertEquals(2 * trained, e.contextLength());
        }
    }

    @Test
    void absurdContextsAreRefusedByTheMemoryCheckBeforeAnythingIsAllocated() {
        java.nio.file.Path stories = stories(); // outside the lambda: without the shared data, skipped, not failed
        for (int context : new int[] {20_000_000, 200_000_000, 2_000_000_000}) {
            IllegalArgumentException ex = assertThrows(IllegalArgumentException.class,
                    () -> InferenceEngine.load(stories, CPU.withContextLength(context).withContextBeyondTraining(true))
                            .close());
            assertTrue(ex.getMessage().startsWith("context length " + context + " "), ex.getMessage());
            assertTrue(ex.getMessage().contains("lower the context length to at most"), ex.getMessage());
        }
    }

    private static ModelConfig config(int blocks, int kvHeads, int headDim, int trained) {
        return new ModelConfig("m", io.offload4j.model.Architecture.LLAMA, kvHeads * headDim * 2, blocks, 64,
                kvHeads * 2, kvHeads, headDim, headDim, 1e-5f, trained, 512, headDim, 10000f,
                io.offload4j.model.RopeScaling.NONE, io.offload4j.model.RopeLayout.values()[0]);
    }

    @Test
    void theAutoPrefixCacheIsBoundedByTheHeapNotAtLeast512MiB() {
        // 4 blocks × 4 KV heads × 128 × (K + V) × 4 bytes = 16 KiB per position: 64 MiB per 4096-token sequence.
        ModelConfig c = config(4, 4, 128, 4096);
        MemoryPlan.Heap heap = new MemoryPlan.Heap(400 * MIB, 40 * MIB);
        MemoryPlan plan = MemoryPlan.of(Path.of("m.gguf"), c, CPU, true, 1, heap);
        long kvBudget = (long) (360 * MIB * MemoryPlan.HEAP_SHARE_FOR_KV);
        assertTrue(plan.prefixCacheBytes() <= kvBudget * MemoryPlan.AUTO_PREFIX_SHARE, "prefix " + plan.prefixCacheBytes());
        assertEquals(16 * 1024 * (4096 + MemoryPlan.PADDING_POSITIONS), plan.bytesPerSequence());
        assertEquals(8, plan.maxRunning(), "auto: the CPU's default, each request admitted within the heap's share");
        assertEquals(0, plan.loweredFrom());
        assertEquals(kvBudget - 4L * 8 * 4096, plan.heapKvBudget(), "the KV share less one thread's scores (8 heads)");
        MemoryPlan set = MemoryPlan.of(Path.of("m.gguf"), c, CPU.withMaxSequences(8), true, 1, heap);
        assertEquals(3, set.maxRunning(), "8 sequences of 64 MiB asked for do not fit next to the prefix cache: lowered");
        assertEquals(8, set.loweredFrom());
        assertEquals(0, set.heapKvBudget(), "a number that was set is kept to, not admitted by memory");
        assertTrue(set.prefixCacheBytes() + set.maxRunning() * set.bytesPerSequence() <= kvBudget,
                "running and kept caches together stay inside the heap's KV budget");
        assertTrue(set.loweredMessage().startsWith("max sequences lowered from 8 to 3"), set.loweredMessage());

        MemoryPlan roomy = MemoryPlan.of(Path.of("m.gguf"), c, CPU, true, 1, new MemoryPlan.Heap(16L << 30, 0));
        assertEquals(2 * roomy.bytesPerSequence(), roomy.prefixCacheBytes(), "with room: two full-context caches");
        assertEquals(8, roomy.maxRunning());
        assertEquals(0, roomy.loweredFrom());
    }

    @Test
    void anExplicitPrefixCacheOrAContextTheHeapCannotHoldIsRefused() {
        ModelConfig c = config(4, 4, 128, 1 << 20);
        MemoryPlan.Heap heap = new MemoryPlan.Heap(256 * MIB, 0);
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class,
                () -> MemoryPlan.of(Path.of("m.gguf"), c, CPU.withContextLength(65536), true, 1, heap));
        assertTrue(tooLong.getMessage().startsWith("context length 65536 needs 1025 MiB of Java heap"),
                tooLong.getMessage());
        assertTrue(tooLong.getMessage().contains("-Xmx"), tooLong.getMessage());
        IllegalArgumentException prefix = assertThrows(IllegalArgumentException.class,
                () -> MemoryPlan.of(Path.of("m.gguf"), c, CPU.withContextLength(4096).withPrefixCacheBytes(512 * MIB),
                        true, 1, heap));
        assertTrue(prefix.getMessage().startsWith("a prefix cache of 512 MiB leaves no room"), prefix.getMessage());
        // KV caches in device memory: the heap does not limit them, the array sizes still do.
        MemoryPlan device = MemoryPlan.of(Path.of("m.gguf"), c, CPU.withContextLength(65536), false, 1, heap);
        assertEquals(EngineOptions.AUTO_SEQUENCES, device.maxRunning(), "chosen once the model is on the device");
        assertEquals(EngineOptions.AUTO_PREFIX_CACHE, device.prefixCacheBytes());
        MemoryPlan set = MemoryPlan.of(Path.of("m.gguf"), c, CPU.withContextLength(65536).withMaxSequences(5), false, 1,
                heap);
        assertEquals(5, set.maxRunning(), "an explicit number is kept");
    }

    @Test
    void maxSequencesMustNotBeNegative() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CPU.withMaxSequences(-1));
        assertTrue(e.getMessage().contains("0 (AUTO_SEQUENCES"), e.getMessage());
        assertEquals(EngineOptions.AUTO_SEQUENCES, EngineOptions.DEFAULTS.maxSequences());
    }

    /** A pass that throws {@code error} from the given forward call (counting from 1), else delegates. */
    private static InferenceEngine failingOnce(int failingCall, Supplier<Throwable> error, boolean inByteSize) {
        AtomicInteger calls = new AtomicInteger();
        // a set number of sequences: the running bytes count the caches' own sizes (byteSize), as they did when written
        return InferenceEngine.load(stories(), CPU.withPrefixCacheBytes(0).withMaxSequences(8), (pass, tokenizer) ->
                new DelegatingForwardPass(pass) {
            @Override
            public void forward(KvCache cache, int[] tokens, int offset, int count, int startPos, float[] logits) {
                if (!inByteSize && calls.incrementAndGet() == failingCall) {
                    throw sneaky(error.get());
                }
                pass.forward(cache instanceof Wrapped w ? w.real : cache, tokens, offset, count, startPos, logits);
            }

            @Override
            public KvCache newKvCache(int capacity) {
                KvCache c = pass.newKvCache(capacity);
                if (!inByteSize) {
                    return c;
                }
                return new Wrapped(c, () -> {
                    if (calls.incrementAndGet() == failingCall) { // the second size asked: when the sequence ends
                        throw sneaky(error.get());
                    }
                });
            }
        });
    }

    /** A KV cache whose second {@link #byteSize} call runs {@code onSecondSize} first. */
    private static final class Wrapped implements KvCache {
        final KvCache real;
        final Runnable onSecondSize;
        int sizes;

        Wrapped(KvCache real, Runnable onSecondSize) {
            this.real = real;
            this.onSecondSize = onSecondSize;
        }

        @Override
        public int capacity() {
            return real.capacity();
        }

        @Override
        public long byteSize() {
            if (++sizes == 2) {
                onSecondSize.run();
            }
            return real.byteSize();
        }

        @Override
        public void close() {
            real.close();
        }
    }

    @Test
    void nanWeightsFailTheRequestWithAClearMessageInsteadOfSilentUnknownTokens(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("nan-weights.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), model);
        long offset;
        int n;
        try (GgufFile f = GgufFile.open(model)) {
            GgufTensorInfo norm = f.tensors().get("output_norm.weight");
            offset = f.dataStart() + norm.dataOffset();
            n = (int) norm.elementCount();
        }
        ByteBuffer nan = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        while (nan.hasRemaining()) {
            nan.putFloat(Float.NaN);
        }
        try (FileChannel ch = FileChannel.open(model, StandardOpenOption.WRITE)) {
            ch.write(nan.flip(), offset);
        }
        try (InferenceEngine e = InferenceEngine.load(model, CPU)) {
            IllegalStateException ex = assertThrows(IllegalStateException.class,
                    () -> e.generate(GenerationRequest.of(new int[] {1, 300, 301}, 4, SamplingParams.GREEDY),
                            GenerationListener.NONE));
            assertTrue(ex.getMessage().startsWith("the model computed NaN logits at position 3"), ex.getMessage());
            assertEquals(0, e.stats().running(), "the engine is idle and serving");
        }
    }

    @SuppressWarnings("unchecked")
    private static <T extends Throwable> RuntimeException sneaky(Throwable t) throws T {
        throw (T) t;
    }

    @Test
    void theHeapRunningOutInAForwardCallFailsThatRequestWithAClearMessageAndTheEngineKeepsServing() {
        try (InferenceEngine e = failingOnce(3, () -> new OutOfMemoryError("Java heap space"), false)) {
            IllegalStateException cause = assertThrows(IllegalStateException.class,
                    () -> e.generate(request(e, 8), GenerationListener.NONE));
            assertInstanceOf(OutOfMemoryError.class, cause.getCause());
            assertTrue(cause.getMessage().startsWith("the Java heap ran out of memory while serving this request"),
                    cause.getMessage());
            assertEquals(8, e.generate(request(e, 8), GenerationListener.NONE).tokens().length);
        }
    }

    @Test
    void aModelFileTruncatedUnderTheEngineIsNamedAsSuch() {
        try (InferenceEngine e = failingOnce(2, () -> new InternalError("a fault occurred in an unsafe memory access"),
                false)) {
            IllegalStateException ex = assertThrows(IllegalStateException.class,
                    () -> e.generate(request(e, 8), GenerationListener.NONE));
            assertTrue(ex.getMessage().contains("truncated or replaced on disk"), ex.getMessage());
            assertEquals(8, e.generate(request(e, 8), GenerationListener.NONE).tokens().length);
        }
    }

    @Test
    void anErrorOutsideTheGuardedCallsFailsOnlyThatRoundAndTheEngineKeepsServing() {
        try (InferenceEngine e = failingOnce(1, () -> new OutOfMemoryError("Java heap space"), true)) {
            IllegalStateException ex = assertThrows(IllegalStateException.class,
                    () -> e.generate(request(e, 4), GenerationListener.NONE));
            assertTrue(ex.getMessage().startsWith("the Java heap ran out of memory"), ex.getMessage());
            GenerationResult next = e.generate(request(e, 4), GenerationListener.NONE);
            assertEquals(4, next.tokens().length, "the engine thread survived");
        }
    }
}

package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.PrefixCopyCheck;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * A prompt prefix copied from another sequence's KV cache ({@link KvCache#copyPrefix}, {@link LivePrefixCopy}) gives
 * the logits of computing it, on full caches and on sliding-window rings; and in the engine, a request that starts
 * like one running beside it copies that prefix instead of computing it, with the output of running alone.
 */
@Timeout(120)
class LivePrefixCopyTest {

    private static final int CONTEXT = 256;
    private static final int CHUNK = 8;
    private static final int SHARED = 40;

    @TempDir
    static Path dir;

    private static Path model(String kind) {
        Path file = dir.resolve(kind + ".gguf");
        if (!file.toFile().exists()) {
            SyntheticModelWriter.write(kind.equals("gemma2")
                    ? SyntheticModelSpec.tinyGemma(Architecture.GEMMA2, QuantPreset.F32, 8)
                    : SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), file);
        }
        return file;
    }

    private static int[] prompt(long seed, int length, int[] prefix) {
        int[] p = new SplittableRandom(seed).ints(length, 3, 512).toArray();
        System.arraycopy(prefix, 0, p, 0, Math.min(prefix.length, length));
        return p;
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gemma2"})
    void aCopiedPrefixGivesTheLogitsOfComputingIt(String kind) throws Exception {
        try (Model model = Model.load(model(kind));
             CpuBackend cpu = new CpuBackend(2);
             ForwardPass pass = cpu.prepare(model, CONTEXT, CHUNK)) {
            PrefixCopyCheck.assertCopiedPrefixGivesTheComputedLogits(pass, CONTEXT, CHUNK, SHARED, CHUNK, 1e-4, kind);
        }
    }

    @Test
    void refusesCachesItCannotCopyAndCopiesNothing() throws Exception {
        try (Model model = Model.load(model("llama"));
             Model other = Model.load(model("gemma2"));
             CpuBackend cpu = new CpuBackend(1);
             ForwardPass pass = cpu.prepare(model, CONTEXT, CHUNK);
             ForwardPass otherPass = cpu.prepare(other, CONTEXT, CHUNK);
             KvCache small = pass.newKvCache(16);
             KvCache target = pass.newKvCache(CONTEXT);
             KvCache foreign = otherPass.newKvCache(CONTEXT)) {
            assertFalse(target.canCopyPrefix(foreign), "another model's cache");
            assertThrows(IllegalArgumentException.class, () -> target.copyPrefix(foreign, 4));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> target.copyPrefix(small, 20));
            assertTrue(e.getMessage().contains("20 positions"), e.getMessage());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "gemma2"})
    void requestsThatStartAlikeCopyTheSharedPrefixAndDecodeAsAlone(String kind) throws Exception {
        Path model = model(kind);
        int[] first = prompt(3, SHARED + 4, new int[0]);
        int[] shared = java.util.Arrays.copyOf(first, SHARED);
        List<int[]> prompts = List.of(first, prompt(4, SHARED + 20, shared), prompt(5, SHARED + 9, shared));
        EngineOptions options = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withPrefixCacheBytes(0)
                .withChunkTokens(16).withContextLength(CONTEXT);
        List<int[]> alone = new ArrayList<>();
        try (InferenceEngine e = InferenceEngine.load(model, options.withMaxSequences(1))) {
            for (int[] p : prompts) {
                alone.add(e.submit(request(p), GenerationListener.NONE).join().tokens());
            }
            assertEquals(0, e.stats().copiedPromptTokens(), "one at a time: nothing runs beside a request");
        }
        try (InferenceEngine e = InferenceEngine.load(model, options.withMaxSequences(3))) {
            List<Generation> running = new ArrayList<>();
            for (int[] p : prompts) {
                running.add(e.submit(request(p), GenerationListener.NONE));
            }
            long copied = 0;
            int total = 0;
            for (int i = 0; i < prompts.size(); i++) {
                GenerationResult r = running.get(i).join();
                assertArrayEquals(alone.get(i), r.tokens(), kind + " request " + i);
                copied += r.cachedPromptTokens();
                total += prompts.get(i).length;
                if (i > 0) { // the first computes the shared part (in its first round), the others copy it
                    assertEquals(SHARED, r.cachedPromptTokens(), kind + " request " + i + " copied the prefix");
                }
            }
            EngineStats stats = e.stats();
            assertEquals(copied, stats.copiedPromptTokens());
            assertEquals(total - copied, stats.promptTokens(), "copied tokens are not computed");
            assertEquals(0, stats.reusedPromptTokens(), "the prefix cache is off");
        }
    }

    /**
     * One request after another (the usual low-traffic RAG service): a prompt that shares only its system prompt with
     * a kept conversation (too little to be worth taking that conversation's cache) copies those positions from it,
     * and the conversation stays kept, so its next turn still continues it.
     */
    @Test
    void aPromptThatStartsLikeAKeptConversationCopiesThatPartAndLeavesItKept() throws Exception {
        Path model = model("llama");
        int[] system = prompt(6, SHARED, new int[0]);
        int[] first = prompt(7, SHARED + 60, system);
        int[] second = prompt(8, SHARED + 30, system);
        EngineOptions options = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1).withChunkTokens(16)
                .withContextLength(CONTEXT).withMaxSequences(1);
        int[] alone;
        try (InferenceEngine e = InferenceEngine.load(model, options.withPrefixCacheBytes(0))) {
            alone = e.submit(request(second), GenerationListener.NONE).join().tokens();
        }
        try (InferenceEngine e = InferenceEngine.load(model, options)) {
            GenerationResult r1 = e.submit(request(first), GenerationListener.NONE).join();
            GenerationResult r2 = e.submit(request(second), GenerationListener.NONE).join();
            assertArrayEquals(alone, r2.tokens(), "as computed alone");
            assertEquals(SHARED, r2.cachedPromptTokens(), "the system prompt is copied");
            EngineStats stats = e.stats();
            assertEquals(SHARED, stats.copiedPromptTokens());
            assertEquals(0, stats.prefixHits(), "40 of 111 tokens: not worth taking the first conversation's cache");
            assertEquals(2, stats.prefixCacheEntries(), "both conversations are kept");
            // the first conversation's next turn still continues its kept cache
            int[] next = java.util.Arrays.copyOf(first, first.length + r1.tokens().length + 3);
            System.arraycopy(r1.tokens(), 0, next, first.length, r1.tokens().length);
            next[next.length - 3] = 300;
            next[next.length - 2] = 301;
            next[next.length - 1] = 302;
            GenerationResult r3 = e.submit(request(next), GenerationListener.NONE).join();
            assertEquals(first.length + r1.tokens().length - 1, r3.cachedPromptTokens(), "the next turn reuses");
            assertEquals(1, e.stats().prefixHits());
        }
    }

    private static GenerationRequest request(int[] prompt) {
        return GenerationRequest.of(prompt, 12, SamplingParams.GREEDY);
    }
}

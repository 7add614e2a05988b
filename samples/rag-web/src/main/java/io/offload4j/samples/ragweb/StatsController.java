package io.offload4j.samples.ragweb;

import io.offload4j.engine.EngineStats;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.offload.OffloadStats;
import io.offload4j.spring.boot.OffloadEngineHolder;
import java.util.Optional;
import org.springframework.web.bind.annotation.GetMapping;
import org.springframework.web.bind.annotation.RestController;

/**
 * {@code GET /api/stats}: the model, its device, the engine's throughput and prefix-cache counters
 * ({@link InferenceEngine#stats()}), where the weights are and what streaming them cost
 * ({@link InferenceEngine#offloadStats()}), and the knowledge base's size. Before the model is loaded (the
 * starter's {@code load-on-startup=false}) {@code loaded} is false and the engine's parts are null: looking at the
 * statistics never loads the model.
 */
@RestController
class StatsController {

    private final OffloadEngineHolder engine;
    private final KnowledgeBase knowledgeBase;
    private final ConversationMemories memories;

    StatsController(OffloadEngineHolder engine, KnowledgeBase knowledgeBase, ConversationMemories memories) {
        this.engine = engine;
        this.knowledgeBase = knowledgeBase;
        this.memories = memories;
    }

    @GetMapping("/api/stats")
    Stats stats() {
        Knowledge knowledge = new Knowledge(knowledgeBase.documents(), knowledgeBase.passages(), memories.size(),
                memories.budgetIfKnown().map(ConversationMemories.Budget::maxTokens).orElse(null));
        Optional<OffloadEngine> loaded = engine.ifLoaded();
        if (loaded.isEmpty()) {
            return new Stats(false, null, null, null, null, null, knowledge, Jvm.now());
        }
        InferenceEngine e = loaded.get().inferenceEngine();
        return new Stats(true, loaded.get().modelName(), e.deviceDescription(), e.contextLength(),
                Engine.of(e.stats()), Offload.of(e.offloadStats()), knowledge, Jvm.now());
    }

    record Stats(boolean loaded, String model, String device, Integer contextLength, Engine engine, Offload offload,
                 Knowledge knowledgeBase, Jvm jvm) {}

    /**
     * The server process's memory, for watching it under load: Java heap in use and its limit, and the resident set
     * size (Linux; 0 elsewhere).
     */
    record Jvm(long heapUsedBytes, long heapMaxBytes, long rssBytes) {
        static Jvm now() {
            Runtime r = Runtime.getRuntime();
            return new Jvm(r.totalMemory() - r.freeMemory(), r.maxMemory(), rss());
        }

        private static long rss() {
            try {
                for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                    if (line.startsWith("VmRSS:")) {
                        return Long.parseLong(line.substring(6).trim().split("\\s+")[0]) * 1024;
                    }
                }
            } catch (java.io.IOException | RuntimeException e) {
                return 0;
            }
            return 0;
        }
    }

    /** {@link EngineStats} with its derived rates. */
    record Engine(int queued, int running, long runningKvCacheBytes, long completed, long promptTokens,
                  long generatedTokens, double prefillTokensPerSecond, double decodeTokensPerSecond,
                  int prefixCacheEntries, long prefixCacheBytes, long prefixHits, long prefixMisses,
                  long reusedPromptTokens, long prefixEvictions) {
        static Engine of(EngineStats s) {
            return new Engine(s.queued(), s.running(), s.runningKvCacheBytes(), s.completed(), s.promptTokens(),
                    s.generatedTokens(), s.prefillTokensPerSecond(), s.decodeTokensPerSecond(),
                    s.prefixCacheEntries(), s.prefixCacheBytes(), s.prefixHits(), s.prefixMisses(),
                    s.reusedPromptTokens(), s.prefixEvictions());
        }
    }

    /** {@link OffloadStats} with its derived rates. */
    record Offload(int residentBlocks, int streamedBlocks, int cpuBlocks, long gpuBytesResident, long stagingBytes,
                   long hostPinnedBytes, long cacheHits, long cacheMisses, long cacheEvictions, long cacheLoads,
                   double hitRate, long bytesStreamed, double streamedGigabytesPerSecond, long steps) {
        static Offload of(OffloadStats s) {
            return new Offload(s.residentBlocks(), s.streamedBlocks(), s.cpuBlocks(), s.gpuBytesResident(),
                    s.stagingBytes(), s.hostPinnedBytes(), s.cacheHits(), s.cacheMisses(), s.cacheEvictions(),
                    s.cacheLoads(), s.hitRate(), s.bytesStreamed(), s.streamedGigabytesPerSecond(), s.steps());
        }
    }

    /**
     * @param conversations    conversations remembered now
     * @param memoryTokenBudget tokens each conversation's memory may hold (null until the model is loaded)
     */
    record Knowledge(int documents, int passages, int conversations, Integer memoryTokenBudget) {}
}

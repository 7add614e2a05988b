package io.offload4j.spring.boot;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.offload4j.engine.EngineStats;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.offload.ExpertCacheStats;
import io.offload4j.offload.OffloadStats;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters of the engine, read from its {@link EngineStats} and {@link OffloadStats} snapshots when the
 * registry polls them (nothing is counted on the request path). Counters are the engine's running totals.
 *
 * <p>Registered once the model is loaded (at start-up by default), because they carry the tag {@code model} = the
 * model's name (the name responses report) and because the GPU meters exist only on a GPU device. Names end in
 * their unit, which Micrometer's base units spell ({@code bytes}, {@code seconds}), so that they export to
 * Prometheus as {@code offload4j_generated_tokens_total}, {@code offload4j_gpu_resident_weights_bytes}, ... without
 * the unit twice.
 */
public class OffloadMetrics implements MeterBinder {

    /** The unit of token counts and rates; not one of Micrometer's base units, which have no tokens. */
    static final String TOKENS = "tokens";

    private final OffloadEngineHolder holder;
    private final String configuredModelName;

    /**
     * @param configuredModelName {@code langchain4j.offload.chat-model.model-name}, or null for the model's own
     */
    public OffloadMetrics(OffloadEngineHolder holder, String configuredModelName) {
        this.holder = holder;
        this.configuredModelName = configuredModelName;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        holder.whenLoaded(engine -> register(registry, engine));
    }

    private void register(MeterRegistry r, OffloadEngine engine) {
        Tags tags = Tags.of("model", ModelNames.of(configuredModelName, engine));
        OffloadEngine e = engine;
        counter(r, tags, e, "offload4j.generated.tokens", "Tokens sampled, in total", TOKENS,
                s -> s.generatedTokens());
        counter(r, tags, e, "offload4j.prompt.tokens", "Prompt tokens computed (prefilled), in total; reused ones"
                + " are not counted", TOKENS, s -> s.promptTokens());
        counter(r, tags, e, "offload4j.prompt.reused.tokens", "Prompt tokens not computed thanks to the prefix"
                + " cache", TOKENS, s -> s.reusedPromptTokens());
        counter(r, tags, e, "offload4j.prompt.copied.tokens", "Prompt tokens copied from another running request"
                + " that had computed the same prefix, not computed", TOKENS, s -> s.copiedPromptTokens());
        counter(r, tags, e, "offload4j.completed.requests", "Requests that have ended (normally, cancelled or"
                + " failed)", null, s -> s.completed());
        gauge(r, tags, e, "offload4j.prefill.throughput", "Prompt tokens per second of prefill time so far",
                "tokens.per.second", EngineStats::prefillTokensPerSecond);
        gauge(r, tags, e, "offload4j.decode.throughput", "Tokens per second of decode-step time so far",
                "tokens.per.second", EngineStats::decodeTokensPerSecond);
        counter(r, tags, e, "offload4j.speculative.drafted.tokens", "Speculative decoding: drafted tokens verified"
                + " by the model", TOKENS, s -> s.draftedTokens());
        counter(r, tags, e, "offload4j.speculative.accepted.tokens", "Speculative decoding: drafted tokens the model"
                + " accepted", TOKENS, s -> s.acceptedDraftTokens());
        gauge(r, tags, e, "offload4j.speculative.acceptance.rate", "Speculative decoding: the share of drafted"
                + " tokens accepted so far", null, EngineStats::acceptanceRate);
        gauge(r, tags, e, "offload4j.decode.tokens.per.pass", "Decode tokens per model pass of a sequence so far (1"
                + " without speculative decoding)", null, EngineStats::tokensPerTargetPass);
        gauge(r, tags, e, "offload4j.queued.requests", "Requests waiting for admission", null, s -> s.queued());
        gauge(r, tags, e, "offload4j.running.requests", "Requests being generated", null, s -> s.running());
        counter(r, tags, e, "offload4j.prefix.cache.hits", "Admissions that continued a kept KV cache", null,
                s -> s.prefixHits());
        counter(r, tags, e, "offload4j.prefix.cache.misses", "Admissions that found no kept KV cache worth taking",
                null, s -> s.prefixMisses());
        gauge(r, tags, e, "offload4j.prefix.cache.size", "Bytes of KV caches kept for prefix reuse",
                BaseUnits.BYTES, s -> s.prefixCacheBytes());
        if (DeviceKind.isGpu(engine.inferenceEngine())) {
            registerGpu(r, tags, engine);
        }
    }

    /** What only a GPU device has: weights resident or streamed, the GPU's block cache, the CPU's share. */
    private static void registerGpu(MeterRegistry r, Tags tags, OffloadEngine engine) {
        offloadCounter(r, tags, engine, "offload4j.gpu.cache.hits", "Weight block accesses served from GPU memory",
                null, s -> s.cacheHits());
        offloadCounter(r, tags, engine, "offload4j.gpu.cache.misses", "Weight block accesses that needed a copy or"
                + " CPU compute", null, s -> s.cacheMisses());
        offloadCounter(r, tags, engine, "offload4j.gpu.streamed.weights", "Bytes of weights copied host to GPU,"
                + " in total", BaseUnits.BYTES, s -> s.bytesStreamed());
        offloadCounter(r, tags, engine, "offload4j.cpu.blocks.time", "Time the CPU spent computing the blocks it"
                + " holds (batch-1 decode next to an offloaded GPU)", "seconds", s -> s.cpuNanos() / 1e9);
        offloadCounter(r, tags, engine, "offload4j.cpu.wait.time", "Time the CPU waited for the GPU before its"
                + " blocks", "seconds", s -> s.cpuWaitNanos() / 1e9);
        registerExperts(r, tags, engine);
        Gauge.builder("offload4j.gpu.resident.weights", engine,
                        en -> en.inferenceEngine().offloadStats().gpuBytesResident())
                .description("Bytes of weights resident in GPU memory").baseUnit(BaseUnits.BYTES).tags(tags)
                .register(r);
    }

    /**
     * A mixture of experts with its experts placed one by one: the GPU expert cache's hits, misses, evictions and
     * refused admissions in total, and per block (tag {@code block}), and the bytes of experts copied to the GPU.
     */
    private static void registerExperts(MeterRegistry r, Tags tags, OffloadEngine engine) {
        ExpertCacheStats x = engine.inferenceEngine().offloadStats().experts();
        if (x == null) {
            return;
        }
        String[] names = {"hits", "misses", "evictions", "rejections"};
        String[] what = {"Expert accesses served from a GPU expert slot", "Expert accesses that needed a copy to the"
                + " GPU", "Experts evicted from the GPU expert cache", "Expert copies the GPU expert cache's admission"
                + " refused to keep"};
        for (int i = 0; i < names.length; i++) {
            int which = i;
            offloadCounter(r, tags, engine, "offload4j.gpu.expert.cache." + names[i], what[i], null,
                    s -> s.experts() == null ? 0 : sum(column(s.experts(), which)));
            for (int b = 0; b < x.hits().length; b++) {
                int block = b;
                offloadCounter(r, tags.and("block", Integer.toString(b)), engine,
                        "offload4j.gpu.expert.cache.block." + names[i], what[i] + ", per block", null,
                        s -> s.experts() == null ? 0 : column(s.experts(), which)[block]);
            }
        }
        offloadCounter(r, tags, engine, "offload4j.gpu.expert.copied.weights", "Bytes of experts copied host to GPU,"
                + " in total", BaseUnits.BYTES, s -> s.experts() == null ? 0 : s.experts().bytesCopied());
    }

    private static long[] column(ExpertCacheStats x, int which) {
        return switch (which) {
            case 0 -> x.hits();
            case 1 -> x.misses();
            case 2 -> x.evictions();
            default -> x.rejections();
        };
    }

    private static double sum(long[] v) {
        double n = 0;
        for (long x : v) {
            n += x;
        }
        return n;
    }

    // The meters reference the engine weakly, as Micrometer does; the context holds it (it is a bean).

    private static void counter(MeterRegistry r, Tags tags, OffloadEngine e, String name, String description,
                                String unit, ToDoubleFunction<EngineStats> value) {
        FunctionCounter.builder(name, e, en -> value.applyAsDouble(en.stats())).description(description)
                .baseUnit(unit).tags(tags).register(r);
    }

    private static void gauge(MeterRegistry r, Tags tags, OffloadEngine e, String name, String description,
                              String unit, ToDoubleFunction<EngineStats> value) {
        Gauge.builder(name, e, en -> value.applyAsDouble(en.stats())).description(description).baseUnit(unit)
                .tags(tags).register(r);
    }

    private static void offloadCounter(MeterRegistry r, Tags tags, OffloadEngine engine, String name,
                                       String description, String unit, ToDoubleFunction<OffloadStats> value) {
        FunctionCounter.builder(name, engine, en -> value.applyAsDouble(en.inferenceEngine().offloadStats()))
                .description(description).baseUnit(unit).tags(tags).register(r);
    }
}

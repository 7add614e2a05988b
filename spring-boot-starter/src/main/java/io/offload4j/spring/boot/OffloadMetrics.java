package io.offload4j.spring.boot;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.binder.BaseUnits;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.offload4j.engine.EngineStats;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.offload.OffloadStats;
import java.util.function.ToDoubleFunction;

/**
 * Micrometer meters of the engine, read from its {@link EngineStats} and {@link OffloadStats} snapshots when the
 * registry polls them (nothing is counted on the request path). Counters are the engine's running totals; before
 * the model is loaded every meter reads 0. All meters carry the tag {@code model} = the
 * {@code langchain4j.offload.model} property.
 */
public class OffloadMetrics implements MeterBinder {

    private final OffloadEngineHolder holder;
    private final Tags tags;

    public OffloadMetrics(OffloadEngineHolder holder, String modelSpec) {
        this.holder = holder;
        this.tags = Tags.of("model", modelSpec);
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        counter(registry, "offload4j.tokens.generated", "Tokens sampled, in total", "tokens", s -> s.generatedTokens());
        counter(registry, "offload4j.tokens.prompt", "Prompt tokens computed (prefilled), in total; reused ones are"
                + " not counted", "tokens", s -> s.promptTokens());
        counter(registry, "offload4j.tokens.prompt.reused", "Prompt tokens not computed thanks to the prefix cache",
                "tokens", s -> s.reusedPromptTokens());
        counter(registry, "offload4j.requests.completed", "Requests that have ended (normally, cancelled or failed)",
                "requests", s -> s.completed());
        gauge(registry, "offload4j.prefill.tokens.per.second", "Prompt tokens per second of prefill time so far",
                "tokens/s", EngineStats::prefillTokensPerSecond);
        gauge(registry, "offload4j.decode.tokens.per.second", "Tokens per second of decode-step time so far",
                "tokens/s", EngineStats::decodeTokensPerSecond);
        counter(registry, "offload4j.speculative.tokens.drafted", "Speculative decoding: drafted tokens verified by"
                + " the model", "tokens", s -> s.draftedTokens());
        counter(registry, "offload4j.speculative.tokens.accepted", "Speculative decoding: drafted tokens the model"
                + " accepted", "tokens", s -> s.acceptedDraftTokens());
        gauge(registry, "offload4j.speculative.acceptance.rate", "Speculative decoding: the share of drafted tokens"
                + " accepted so far", "ratio", EngineStats::acceptanceRate);
        gauge(registry, "offload4j.decode.tokens.per.pass", "Decode tokens per model pass of a sequence so far (1"
                + " without speculative decoding)", "tokens", EngineStats::tokensPerTargetPass);
        gauge(registry, "offload4j.requests.queued", "Requests waiting for admission", "requests", s -> s.queued());
        gauge(registry, "offload4j.requests.running", "Requests being generated", "requests", s -> s.running());
        counter(registry, "offload4j.prefix.cache.hits", "Admissions that continued a kept KV cache", "requests",
                s -> s.prefixHits());
        counter(registry, "offload4j.prefix.cache.misses", "Admissions that found no kept KV cache worth taking",
                "requests", s -> s.prefixMisses());
        gauge(registry, "offload4j.prefix.cache.size", "Bytes of KV caches kept for prefix reuse", BaseUnits.BYTES,
                s -> s.prefixCacheBytes());
        offloadCounter(registry, "offload4j.gpu.cache.hits", "Weight block accesses served from GPU memory",
                "accesses", s -> s.cacheHits());
        offloadCounter(registry, "offload4j.gpu.cache.misses", "Weight block accesses that needed a copy or CPU"
                + " compute", "accesses", s -> s.cacheMisses());
        offloadCounter(registry, "offload4j.gpu.bytes.streamed", "Bytes of weights copied host to GPU, in total",
                BaseUnits.BYTES, s -> s.bytesStreamed());
        offloadCounter(registry, "offload4j.cpu.blocks.time", "Time the CPU spent computing the blocks it holds"
                + " (batch-1 decode next to an offloaded GPU)", "seconds", s -> s.cpuNanos() / 1e9);
        offloadCounter(registry, "offload4j.cpu.wait.time", "Time the CPU waited for the GPU before its blocks",
                "seconds", s -> s.cpuWaitNanos() / 1e9);
        Gauge.builder("offload4j.gpu.bytes.resident", holder, h -> offload(h, s -> s.gpuBytesResident()))
                .description("Bytes of weights resident in GPU memory").baseUnit(BaseUnits.BYTES).tags(tags)
                .register(registry);
    }

    private void counter(MeterRegistry r, String name, String description, String unit,
                         ToDoubleFunction<EngineStats> value) {
        FunctionCounter.builder(name, holder, h -> engine(h, value)).description(description).baseUnit(unit)
                .tags(tags).register(r);
    }

    private void gauge(MeterRegistry r, String name, String description, String unit,
                       ToDoubleFunction<EngineStats> value) {
        Gauge.builder(name, holder, h -> engine(h, value)).description(description).baseUnit(unit).tags(tags)
                .register(r);
    }

    private void offloadCounter(MeterRegistry r, String name, String description, String unit,
                                ToDoubleFunction<OffloadStats> value) {
        FunctionCounter.builder(name, holder, h -> offload(h, value)).description(description).baseUnit(unit)
                .tags(tags).register(r);
    }

    private static double engine(OffloadEngineHolder h, ToDoubleFunction<EngineStats> value) {
        return h.ifLoaded().map(OffloadEngine::stats).map(value::applyAsDouble).orElse(0.0);
    }

    private static double offload(OffloadEngineHolder h, ToDoubleFunction<OffloadStats> value) {
        return h.ifLoaded().map(e -> value.applyAsDouble(e.inferenceEngine().offloadStats())).orElse(0.0);
    }
}

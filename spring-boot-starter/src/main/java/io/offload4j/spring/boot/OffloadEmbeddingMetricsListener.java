package io.offload4j.spring.boot;

import dev.langchain4j.model.embedding.listener.EmbeddingModelErrorContext;
import dev.langchain4j.model.embedding.listener.EmbeddingModelListener;
import dev.langchain4j.model.embedding.listener.EmbeddingModelRequestContext;
import dev.langchain4j.model.embedding.listener.EmbeddingModelResponseContext;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import java.util.function.Supplier;

/**
 * Meters of the embedding model, recorded per request (an {@code embedAll} of many texts is one request):
 * <ul>
 *   <li>{@code offload4j.embedding.duration}: from the call to the vectors or the error, tagged {@code outcome}
 *       ({@code success} / {@code error}), with percentiles;</li>
 *   <li>{@code offload4j.embedding.texts}: texts embedded, and {@code offload4j.embedding.tokens}: their tokens.</li>
 * </ul>
 * All are tagged {@code model} = the model's name. Like the chat timers, base units only (seconds, counts).
 */
final class OffloadEmbeddingMetricsListener implements EmbeddingModelListener {

    private static final String START = OffloadEmbeddingMetricsListener.class.getName() + ".start";

    private final Supplier<MeterRegistry> registry;

    OffloadEmbeddingMetricsListener(Supplier<MeterRegistry> registry) {
        this.registry = registry;
    }

    @Override
    public void onRequest(EmbeddingModelRequestContext context) {
        context.attributes().put(START, System.nanoTime());
    }

    @Override
    public void onResponse(EmbeddingModelResponseContext context) {
        MeterRegistry r = registry.get();
        if (r == null) {
            return;
        }
        String model = context.embeddingModel().modelName();
        record(r, context.attributes().get(START), model, "success");
        var response = context.embeddingResponse();
        Counter.builder("offload4j.embedding.texts").description("Texts embedded").tag("model", model).register(r)
                .increment(response.embeddings().size());
        if (response.tokenUsage() != null && response.tokenUsage().inputTokenCount() != null) {
            Counter.builder("offload4j.embedding.tokens").description("Tokens of the texts embedded")
                    .tag("model", model).register(r).increment(response.tokenUsage().inputTokenCount());
        }
    }

    @Override
    public void onError(EmbeddingModelErrorContext context) {
        MeterRegistry r = registry.get();
        if (r != null) {
            record(r, context.attributes().get(START), context.embeddingModel().modelName(), "error");
        }
    }

    private static void record(MeterRegistry r, Object start, String model, String outcome) {
        if (start instanceof Long t0) {
            Timer.builder("offload4j.embedding.duration").description("Embedding requests, call to vectors")
                    .tag("model", model).tag("outcome", outcome).publishPercentiles(0.5, 0.95, 0.99).register(r)
                    .record(System.nanoTime() - t0, java.util.concurrent.TimeUnit.NANOSECONDS);
        }
    }
}

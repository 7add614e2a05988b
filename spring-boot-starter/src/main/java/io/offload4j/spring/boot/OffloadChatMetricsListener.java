package io.offload4j.spring.boot;

import dev.langchain4j.model.chat.listener.ChatModelErrorContext;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import dev.langchain4j.model.chat.listener.ChatModelResponseContext;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.TokenUsage;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.offload4j.langchain4j.OffloadChatResponseMetadata;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Times each chat request of the starter's models, sync and streaming alike, with three timers that publish
 * percentiles (p50, p90, p99; histograms on request through Spring Boot's
 * {@code management.metrics.distribution.percentiles-histogram.offload4j=true}):
 * <ul>
 *   <li>{@code offload4j.request.duration}: from the call to the complete response or the error, tagged
 *       {@code outcome} = {@code success} or {@code error};</li>
 *   <li>{@code offload4j.time.to.first.token}: what the engine measured from the request's arrival to its first
 *       token (time queued plus prefill);</li>
 *   <li>{@code offload4j.inter.token.latency}: the request's decode time per token after the first.</li>
 * </ul>
 * All are tagged {@code model} = the name the response reports. The engine's own measurements come with the
 * response ({@link OffloadChatResponseMetadata}), so nothing runs per token.
 */
final class OffloadChatMetricsListener implements ChatModelListener {

    private static final String START = OffloadChatMetricsListener.class.getName() + ".start";
    private static final double[] PERCENTILES = {0.5, 0.9, 0.99};

    private final Supplier<MeterRegistry> registry;
    private final Supplier<String> defaultModelName;

    /**
     * @param registry         the application's registry, looked up when a request ends; null when it has none
     * @param defaultModelName the model name for a request whose response has none (one that failed)
     */
    OffloadChatMetricsListener(Supplier<MeterRegistry> registry, Supplier<String> defaultModelName) {
        this.registry = registry;
        this.defaultModelName = defaultModelName;
    }

    @Override
    public void onRequest(ChatModelRequestContext context) {
        context.attributes().put(START, System.nanoTime());
    }

    @Override
    public void onResponse(ChatModelResponseContext context) {
        ChatResponse response = context.chatResponse();
        String model = response.modelName() != null ? response.modelName() : modelName(context.chatRequest());
        MeterRegistry r = registry.get();
        if (r == null) {
            return; // Micrometer without a registry bean: nothing to record into
        }
        Object start = context.attributes().get(START);
        if (start instanceof Long startNanos) {
            timer(r, "offload4j.request.duration", "Chat requests, from the call to the complete response or the"
                    + " error", model, "success").record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
        }
        if (response.metadata() instanceof OffloadChatResponseMetadata m) {
            timer(r, "offload4j.time.to.first.token", "From a request's arrival to its first token: time queued"
                    + " plus prompt processing", model, null).record(m.queueNanos() + m.prefillNanos(),
                    TimeUnit.NANOSECONDS);
            TokenUsage usage = response.tokenUsage();
            Integer output = usage == null ? null : usage.outputTokenCount();
            if (output != null && output > 1) {
                timer(r, "offload4j.inter.token.latency", "A request's decode time per token after the first",
                        model, null).record(Duration.ofNanos(m.decodeNanos() / (output - 1)));
            }
        }
    }

    @Override
    public void onError(ChatModelErrorContext context) {
        MeterRegistry r = registry.get();
        Object start = context.attributes().get(START);
        if (r != null && start instanceof Long startNanos) {
            timer(r, "offload4j.request.duration", "Chat requests, from the call to the complete"
                    + " response or the error", modelName(context.chatRequest()), "error")
                    .record(System.nanoTime() - startNanos, TimeUnit.NANOSECONDS);
        }
    }

    private String modelName(ChatRequest request) {
        String requested = request == null || request.parameters() == null ? null : request.parameters().modelName();
        return requested != null ? requested : defaultModelName.get();
    }

    private static Timer timer(MeterRegistry r, String name, String description, String model, String outcome) {
        Timer.Builder b = Timer.builder(name).description(description).tag("model", model)
                .publishPercentiles(PERCENTILES);
        if (outcome != null) {
            b.tag("outcome", outcome);
        }
        return b.register(r);
    }
}

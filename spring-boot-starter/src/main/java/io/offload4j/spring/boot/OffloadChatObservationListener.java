package io.offload4j.spring.boot;

import dev.langchain4j.model.chat.listener.ChatModelErrorContext;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.listener.ChatModelRequestContext;
import dev.langchain4j.model.chat.listener.ChatModelResponseContext;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import io.micrometer.observation.Observation;
import io.micrometer.observation.ObservationRegistry;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * One Micrometer {@link Observation} per chat request, named and tagged as the OpenTelemetry GenAI semantic
 * conventions name a client's chat span: observation {@value #NAME}, span {@code chat <model>}, with
 * {@code gen_ai.operation.name}, {@code gen_ai.provider.name} ({@code gen_ai.system} too, the older name),
 * {@code gen_ai.request.model}, {@code gen_ai.response.model} as low-cardinality values and the request's sampling
 * parameters, {@code gen_ai.usage.input_tokens}, {@code gen_ai.usage.output_tokens},
 * {@code gen_ai.response.finish_reasons} and {@code gen_ai.response.id} as high-cardinality ones. With Spring Boot's
 * tracing the observation becomes a span, a child of the caller's current one (the observation starts on the
 * calling thread); with its metrics a {@code gen_ai.client.operation} timer.
 */
final class OffloadChatObservationListener implements ChatModelListener {

    static final String NAME = "gen_ai.client.operation";
    static final String PROVIDER = "offload4j";
    private static final String OBSERVATION = OffloadChatObservationListener.class.getName() + ".observation";

    private final Supplier<ObservationRegistry> registry;
    private final Supplier<String> defaultModelName;

    OffloadChatObservationListener(Supplier<ObservationRegistry> registry, Supplier<String> defaultModelName) {
        this.registry = registry;
        this.defaultModelName = defaultModelName;
    }

    @Override
    public void onRequest(ChatModelRequestContext context) {
        ChatRequest request = context.chatRequest();
        ChatRequestParameters p = request.parameters();
        String model = p != null && p.modelName() != null ? p.modelName() : defaultModelName.get();
        Observation observation = Observation.createNotStarted(NAME, registry.get())
                .contextualName("chat " + model)
                .lowCardinalityKeyValue("gen_ai.operation.name", "chat")
                .lowCardinalityKeyValue("gen_ai.provider.name", PROVIDER)
                .lowCardinalityKeyValue("gen_ai.system", PROVIDER)
                .lowCardinalityKeyValue("gen_ai.request.model", model);
        if (p != null) {
            high(observation, "gen_ai.request.temperature", p.temperature());
            high(observation, "gen_ai.request.top_p", p.topP());
            high(observation, "gen_ai.request.top_k", p.topK());
            high(observation, "gen_ai.request.max_tokens", p.maxOutputTokens());
        }
        context.attributes().put(OBSERVATION, observation.start());
    }

    @Override
    public void onResponse(ChatModelResponseContext context) {
        if (!(context.attributes().get(OBSERVATION) instanceof Observation observation)) {
            return;
        }
        ChatResponse response = context.chatResponse();
        if (response.modelName() != null) {
            observation.lowCardinalityKeyValue("gen_ai.response.model", response.modelName());
        }
        TokenUsage usage = response.tokenUsage();
        if (usage != null) {
            high(observation, "gen_ai.usage.input_tokens", usage.inputTokenCount());
            high(observation, "gen_ai.usage.output_tokens", usage.outputTokenCount());
        }
        if (response.finishReason() != null) {
            observation.highCardinalityKeyValue("gen_ai.response.finish_reasons", finishReason(response.finishReason()));
        }
        high(observation, "gen_ai.response.id", response.id());
        observation.stop();
    }

    @Override
    public void onError(ChatModelErrorContext context) {
        if (context.attributes().get(OBSERVATION) instanceof Observation observation) {
            observation.error(context.error());
            observation.stop();
        }
    }

    /** The convention's values: {@code stop}, {@code length}, {@code tool_calls}, {@code content_filter}. */
    static String finishReason(FinishReason reason) {
        return switch (reason) {
            case TOOL_EXECUTION -> "tool_calls";
            default -> reason.name().toLowerCase(Locale.ROOT);
        };
    }

    private static void high(Observation observation, String key, Object value) {
        if (value != null) {
            observation.highCardinalityKeyValue(key, String.valueOf(value));
        }
    }
}

package io.offload4j.spring.boot;

import static io.micrometer.observation.tck.TestObservationRegistryAssert.assertThat;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.micrometer.observation.ObservationRegistry;
import io.micrometer.observation.tck.TestObservationRegistry;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

/**
 * The starter's meters and observations as their users see them: a Prometheus scrape with clean names and the
 * model's name as tag, request timers with percentiles, and one GenAI-convention observation per chat request.
 */
class OffloadObservabilityTest {

    @TempDir
    static Path dir;
    static Path tiny;

    @BeforeAll
    static void writeModel() {
        tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
    }

    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class))
            .withPropertyValues("langchain4j.offload.model=" + tiny, "langchain4j.offload.device=cpu",
                    "langchain4j.offload.threads=1", "langchain4j.offload.context-length=128",
                    "langchain4j.offload.chat-model.temperature=0", "langchain4j.offload.chat-model.max-tokens=3");

    @Test
    void prometheusScrapesCleanNamesTaggedWithTheModelsName() {
        PrometheusMeterRegistry prometheus = new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        runner.withBean(MeterRegistry.class, () -> prometheus).run(context -> {
            context.getBean(OffloadMetrics.class).bindTo(prometheus);
            context.getBean(ChatModel.class).chat("hello");
            String scrape = prometheus.scrape();
            List<String> names = Arrays.stream(scrape.split("\n")).filter(l -> l.startsWith("offload4j_"))
                    .map(l -> l.replaceAll("[{ ].*", "")).distinct().sorted().toList();

            assertThat(names).contains("offload4j_generated_tokens_total", "offload4j_prompt_tokens_total",
                    "offload4j_prompt_reused_tokens_total", "offload4j_completed_requests_total",
                    "offload4j_prefill_throughput_tokens_per_second", "offload4j_decode_throughput_tokens_per_second",
                    "offload4j_queued_requests", "offload4j_running_requests", "offload4j_prefix_cache_hits_total",
                    "offload4j_prefix_cache_misses_total", "offload4j_prefix_cache_size_bytes",
                    "offload4j_request_duration_seconds", "offload4j_request_duration_seconds_count",
                    "offload4j_time_to_first_token_seconds", "offload4j_time_to_first_token_seconds_count",
                    "offload4j_inter_token_latency_seconds", "offload4j_inter_token_latency_seconds_count");
            assertThat(names).as("no unit twice, no unit spelled with a slash")
                    .noneMatch(n -> n.contains("_tokens_s") || n.matches(".*_(tokens|bytes|seconds|requests)_.*_\\1.*"));
            assertThat(names).as("no GPU meters on the CPU").noneMatch(n -> n.startsWith("offload4j_gpu_")
                    || n.startsWith("offload4j_cpu_"));
            assertThat(scrape).contains("offload4j_generated_tokens_total{model=\"tiny-llama\"}")
                    .contains("offload4j_request_duration_seconds{model=\"tiny-llama\",outcome=\"success\","
                            + "quantile=\"0.99\"}")
                    .doesNotContain(tiny.toString());
        });
    }

    @Test
    void timersRecordEachRequestFromTheEnginesMeasurements() {
        MeterRegistry registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        runner.withBean(MeterRegistry.class, () -> registry).run(context -> {
            ChatResponse r = context.getBean(ChatModel.class).chat(dev.langchain4j.model.chat.request.ChatRequest
                    .builder().messages(dev.langchain4j.data.message.UserMessage.from("hello")).build());
            var m = (io.offload4j.langchain4j.OffloadChatResponseMetadata) r.metadata();
            Timer ttft = registry.get("offload4j.time.to.first.token").tag("model", "tiny-llama").timer();
            assertThat(ttft.count()).isEqualTo(1);
            assertThat(ttft.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(m.queueNanos() + m.prefillNanos());
            int out = r.tokenUsage().outputTokenCount();
            if (out > 1) {
                Timer itl = registry.get("offload4j.inter.token.latency").timer();
                assertThat(itl.totalTime(TimeUnit.NANOSECONDS)).isEqualTo(m.decodeNanos() / (out - 1));
            }
            Timer duration = registry.get("offload4j.request.duration").tag("outcome", "success").timer();
            assertThat(duration.count()).isEqualTo(1);
            assertThat(duration.totalTime(TimeUnit.NANOSECONDS)).isGreaterThanOrEqualTo(m.prefillNanos());
            assertThat(duration.takeSnapshot().percentileValues()).extracting(v -> v.percentile())
                    .containsExactly(0.5, 0.9, 0.99);

            StreamRecorder recorder = new StreamRecorder();
            context.getBean(StreamingChatModel.class).chat("hello", recorder);
            recorder.done.get(30, TimeUnit.SECONDS);
            assertThat(registry.get("offload4j.request.duration").tag("outcome", "success").timer().count())
                    .isEqualTo(2);
            assertThat(ttft.count()).isEqualTo(2);
        });
    }

    @Test
    void eachChatRequestIsAnObservationWithTheGenAiConventionsAttributes() {
        TestObservationRegistry observations = TestObservationRegistry.create();
        runner.withBean(ObservationRegistry.class, () -> observations).run(context -> {
            ChatResponse r = context.getBean(ChatModel.class).chat(dev.langchain4j.model.chat.request.ChatRequest
                    .builder().messages(dev.langchain4j.data.message.UserMessage.from("hello")).build());
            assertThat(observations).hasNumberOfObservationsWithNameEqualTo("gen_ai.client.operation", 1)
                    .hasObservationWithNameEqualTo("gen_ai.client.operation").that()
                    .hasContextualNameEqualTo("chat tiny-llama")
                    .hasBeenStarted().hasBeenStopped().doesNotHaveError()
                    .hasLowCardinalityKeyValue("gen_ai.operation.name", "chat")
                    .hasLowCardinalityKeyValue("gen_ai.provider.name", "offload4j")
                    .hasLowCardinalityKeyValue("gen_ai.request.model", "tiny-llama")
                    .hasLowCardinalityKeyValue("gen_ai.response.model", "tiny-llama")
                    .hasHighCardinalityKeyValue("gen_ai.usage.input_tokens",
                            String.valueOf(r.tokenUsage().inputTokenCount()))
                    .hasHighCardinalityKeyValue("gen_ai.usage.output_tokens",
                            String.valueOf(r.tokenUsage().outputTokenCount()))
                    .hasHighCardinalityKeyValue("gen_ai.response.finish_reasons",
                            r.finishReason().name().toLowerCase(java.util.Locale.ROOT))
                    .hasHighCardinalityKeyValue("gen_ai.request.max_tokens", "3")
                    .hasHighCardinalityKeyValue("gen_ai.request.temperature", "0.0");

            StreamRecorder recorder = new StreamRecorder();
            context.getBean(StreamingChatModel.class).chat("hello", recorder);
            recorder.done.get(30, TimeUnit.SECONDS);
            assertThat(observations).hasNumberOfObservationsWithNameEqualTo("gen_ai.client.operation", 2);
        });
    }

    @Test
    void aFailedRequestIsAnObservationWithItsErrorAndATimedError() throws Exception {
        Path junk = Files.writeString(dir.resolve("junk.gguf"), "not a GGUF file");
        TestObservationRegistry observations = TestObservationRegistry.create();
        MeterRegistry registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        runner.withPropertyValues("langchain4j.offload.model=" + junk, "langchain4j.offload.load-on-startup=false")
                .withBean(ObservationRegistry.class, () -> observations).withBean(MeterRegistry.class, () -> registry)
                .run(context -> {
                    assertThatThrownBy(() -> context.getBean(ChatModel.class).chat("hi")).isNotNull();
                    assertThat(observations).hasObservationWithNameEqualTo("gen_ai.client.operation").that()
                            .hasError().hasBeenStopped();
                    assertThat(registry.get("offload4j.request.duration").tag("outcome", "error").timer().count())
                            .isEqualTo(1);
                });
    }

    @Test
    void theFinishReasonsAreTheConventionsValues() {
        assertThat(OffloadChatObservationListener.finishReason(dev.langchain4j.model.output.FinishReason.STOP))
                .isEqualTo("stop");
        assertThat(OffloadChatObservationListener.finishReason(
                dev.langchain4j.model.output.FinishReason.TOOL_EXECUTION)).isEqualTo("tool_calls");
        assertThat(OffloadChatObservationListener.finishReason(
                dev.langchain4j.model.output.FinishReason.CONTENT_FILTER)).isEqualTo("content_filter");
    }

    /** Collects a stream's response. */
    static final class StreamRecorder implements dev.langchain4j.model.chat.response.StreamingChatResponseHandler {
        final java.util.concurrent.CompletableFuture<ChatResponse> done = new java.util.concurrent.CompletableFuture<>();

        @Override
        public void onPartialResponse(String partialResponse) {}

        @Override
        public void onCompleteResponse(ChatResponse completeResponse) {
            done.complete(completeResponse);
        }

        @Override
        public void onError(Throwable error) {
            done.completeExceptionally(error);
        }
    }
}

package io.offload4j.spring.boot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.GenerationListener;
import io.offload4j.engine.GenerationRequest;
import io.offload4j.engine.SamplingParams;
import io.offload4j.langchain4j.OffloadChatModel;
import io.offload4j.langchain4j.OffloadChatRequestParameters;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.langchain4j.OffloadStreamingChatModel;
import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import io.offload4j.spring.boot.health.OffloadHealthReport;
import org.springframework.boot.test.context.FilteredClassLoader;
import org.springframework.boot.test.context.assertj.AssertableApplicationContext;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.core.annotation.Order;

/**
 * The auto-configuration in application contexts of its own: when it is active, what it creates from which
 * properties, what it refuses, and what backs off. Runs on a tiny random-weight model written for the test (a
 * real GGUF file loaded by the real engine), and on the shared stories260K where a test needs sensible text.
 */
class OffloadAutoConfigurationTest {

    @TempDir
    static Path dir;
    static Path tiny;

    @BeforeAll
    static void writeModel() {
        tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
    }

    /** One CPU thread and a small context: the model is tiny and the build machine is shared. */
    private final ApplicationContextRunner runner = new ApplicationContextRunner()
            .withConfiguration(AutoConfigurations.of(OffloadAutoConfiguration.class))
            .withPropertyValues("langchain4j.offload.device=cpu", "langchain4j.offload.threads=1",
                    "langchain4j.offload.context-length=128");

    private ApplicationContextRunner withTiny() {
        return runner.withPropertyValues("langchain4j.offload.model=" + tiny);
    }

    @Test
    void inactiveWithoutTheModelProperty() {
        runner.run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context).doesNotHaveBean(OffloadEngine.class);
            assertThat(context).doesNotHaveBean(ChatModel.class);
            assertThat(context).doesNotHaveBean(StreamingChatModel.class);
            assertThat(context).doesNotHaveBean(OffloadProperties.class);
        });
    }

    @Test
    void loadsOneEngineSharedByBothModelsAndClosesItWithTheContext() {
        OffloadEngine[] seen = new OffloadEngine[1];
        withTiny().run(context -> {
            assertThat(context).hasSingleBean(OffloadEngine.class);
            OffloadEngine engine = context.getBean(OffloadEngine.class);
            seen[0] = engine;
            assertThat(engine.modelName()).isEqualTo("tiny-llama");
            assertThat(engine.inferenceEngine().contextLength()).isEqualTo(128);
            assertThat(engine.inferenceEngine().deviceDescription()).containsIgnoringCase("cpu");
            assertThat(context.getBean(ChatModel.class)).isInstanceOfSatisfying(OffloadChatModel.class,
                    m -> assertThat(m.engine()).isSameAs(engine));
            assertThat(context.getBean(StreamingChatModel.class)).isInstanceOfSatisfying(
                    OffloadStreamingChatModel.class, m -> assertThat(m.engine()).isSameAs(engine));
            assertThat(context.getBean(OffloadEngineHolder.class).ifLoaded()).containsSame(engine);
            assertThat(submitOneToken(engine)).isNotNull();
        });
        assertThatThrownBy(() -> submitOneToken(seen[0])).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    private static Object submitOneToken(OffloadEngine engine) {
        return engine.inferenceEngine().submit(new GenerationRequest(new int[] {1, 300}, 1, SamplingParams.GREEDY,
                List.of(), new int[0]), GenerationListener.NONE).join();
    }

    @Test
    void bindsEveryEngineProperty() {
        withTiny().withPropertyValues(
                "langchain4j.offload.device=CPU",
                "langchain4j.offload.threads=1",
                "langchain4j.offload.context-length=96",
                "langchain4j.offload.max-sequences=3",
                "langchain4j.offload.prefix-cache=64MB",
                "langchain4j.offload.gpu.memory-budget=6GB",
                "langchain4j.offload.gpu.prefetch-depth=4",
                "langchain4j.offload.gpu.placement=stream",
                "langchain4j.offload.gpu.max-batch-rows=32",
                "langchain4j.offload.gpu.gemm-min-tokens=8",
                "langchain4j.offload.gpu.graphs=false",
                "langchain4j.offload.gpu.expert-cache=true",
                "langchain4j.offload.host.pinned-memory-budget=1048576",
                "langchain4j.offload.speculative.prompt-lookup=true",
                "langchain4j.offload.speculative.max-draft-tokens=5",
                "langchain4j.offload.cache-dir=" + dir.resolve("cache")).run(context -> {
            assertThat(context).hasNotFailed();
            EngineOptions o = context.getBean(OffloadEngineLoader.class).options();
            assertThat(o).isEqualTo(new EngineOptions("CPU", 1, 96, EngineOptions.DEFAULTS.chunkTokens(), 3,
                    64L << 20, new OffloadOptions(6L << 30, 1 << 20, 4, io.offload4j.offload.PlacementPolicy.STREAM,
                    32, 8, false, true))
                    .withSpeculative(io.offload4j.engine.speculative.SpeculativeOptions.OFF.withPromptLookup(true)
                            .withMaxDraftTokens(5)));
            assertThat(context.getBean(OffloadProperties.class).getCacheDir()).isEqualTo(dir.resolve("cache"));
            assertThat(context.getBean(OffloadEngine.class).inferenceEngine().contextLength()).isEqualTo(96);
        });
    }

    @Test
    void budgetsDefaultToAutoAndAcceptAutoInAnyCase() {
        withTiny().withPropertyValues("langchain4j.offload.gpu.memory-budget=AUTO").run(context -> {
            EngineOptions o = context.getBean(OffloadEngineLoader.class).options();
            assertThat(o.offload()).isEqualTo(OffloadOptions.DEFAULTS);
            assertThat(o.prefixCacheBytes()).isEqualTo(EngineOptions.AUTO_PREFIX_CACHE);
            assertThat(o.maxSequences()).isEqualTo(EngineOptions.AUTO_SEQUENCES);
            assertThat(o.device()).hasToString("cpu");
        });
        withTiny().withPropertyValues("langchain4j.offload.prefix-cache=0").run(context ->
                assertThat(context.getBean(OffloadEngineLoader.class).options().prefixCacheBytes()).isZero());
    }

    @Test
    void chatModelPropertiesBecomeTheModelsDefaultRequestParameters() {
        withTiny().withPropertyValues(
                "langchain4j.offload.chat-model.temperature=0.3",
                "langchain4j.offload.chat-model.top-p=0.9",
                "langchain4j.offload.chat-model.top-k=20",
                "langchain4j.offload.chat-model.min-p=0.1",
                "langchain4j.offload.chat-model.repeat-penalty=1.1",
                "langchain4j.offload.chat-model.repeat-last-n=32",
                "langchain4j.offload.chat-model.seed=7",
                "langchain4j.offload.chat-model.max-tokens=50",
                "langchain4j.offload.chat-model.stop-sequences=END,###",
                "langchain4j.offload.chat-model.model-name=my-model").run(context -> {
            for (ChatRequestParameters p : List.of(context.getBean(ChatModel.class).defaultRequestParameters(),
                    context.getBean(StreamingChatModel.class).defaultRequestParameters())) {
                assertThat(p).isInstanceOfSatisfying(OffloadChatRequestParameters.class, o -> {
                    assertThat(o.temperature()).isEqualTo(0.3);
                    assertThat(o.topP()).isEqualTo(0.9);
                    assertThat(o.topK()).isEqualTo(20);
                    assertThat(o.minP()).isEqualTo(0.1);
                    assertThat(o.repeatPenalty()).isEqualTo(1.1);
                    assertThat(o.repeatLastN()).isEqualTo(32);
                    assertThat(o.seed()).isEqualTo(7);
                    assertThat(o.maxOutputTokens()).isEqualTo(50);
                    assertThat(o.stopSequences()).containsExactly("END", "###");
                    assertThat(o.modelName()).isEqualTo("my-model");
                });
            }
        });
    }

    @Test
    void everyBeanBacksOffForTheApplicationsOwn() {
        ChatModel ownChat = new ChatModel() {};
        StreamingChatModel ownStreaming = new StreamingChatModel() {};
        withTiny().withBean(ChatModel.class, () -> ownChat).withBean(StreamingChatModel.class, () -> ownStreaming)
                .run(context -> {
                    assertThat(context.getBean(ChatModel.class)).isSameAs(ownChat);
                    assertThat(context.getBean(StreamingChatModel.class)).isSameAs(ownStreaming);
                });
        try (OffloadEngine own = OffloadEngine.builder().modelPath(tiny).device("cpu").threads(1).build()) {
            // The application's engine, not closed by the context (destroyMethod ""): its owner closes it.
            runner.withPropertyValues("langchain4j.offload.model=" + tiny)
                    .withBean("ownEngine", OffloadEngine.class, () -> own, d -> d.setDestroyMethodName(""))
                    .run(context -> {
                        assertThat(context).hasSingleBean(OffloadEngine.class);
                        assertThat(((OffloadChatModel) context.getBean(ChatModel.class)).engine()).isSameAs(own);
                        assertThat(((OffloadStreamingChatModel) context.getBean(StreamingChatModel.class)).engine())
                                .isSameAs(own);
                    });
        }
    }

    @Configuration(proxyBeanMethods = false)
    static class Listeners {
        static final ChatModelListener FIRST = new ChatModelListener() {};
        static final ChatModelListener SECOND = new ChatModelListener() {};

        @Bean
        @Order(2)
        ChatModelListener second() {
            return SECOND;
        }

        @Bean
        @Order(1)
        ChatModelListener first() {
            return FIRST;
        }
    }

    @Test
    void listenerBeansAreGivenToBothModelsInTheirOrder() {
        // After the starter's own (timers, observation), which are not beans.
        withTiny().withUserConfiguration(Listeners.class).run(context -> {
            assertThat(applicationListeners(context.getBean(ChatModel.class).listeners()))
                    .containsExactly(Listeners.FIRST, Listeners.SECOND);
            assertThat(context.getBean(ChatModel.class).listeners()).endsWith(Listeners.FIRST, Listeners.SECOND)
                    .hasAtLeastOneElementOfType(OffloadChatMetricsListener.class)
                    .hasAtLeastOneElementOfType(OffloadChatObservationListener.class);
            assertThat(applicationListeners(context.getBean(StreamingChatModel.class).listeners()))
                    .containsExactly(Listeners.FIRST, Listeners.SECOND);
        });
        withTiny().withPropertyValues("langchain4j.offload.load-on-startup=false")
                .withUserConfiguration(Listeners.class).run(context -> assertThat(applicationListeners(
                        context.getBean(ChatModel.class).listeners())).containsExactly(Listeners.FIRST, Listeners.SECOND));
    }

    private static List<ChatModelListener> applicationListeners(List<ChatModelListener> all) {
        return all.stream().filter(l -> !(l instanceof OffloadChatMetricsListener)
                && !(l instanceof OffloadChatObservationListener)).toList();
    }

    // --- validation ---

    private void failsWith(ApplicationContextRunner r, String... messageParts) {
        r.run(context -> {
            assertThat(context).hasFailed();
            assertThat(causeMessages(context)).contains(messageParts);
        });
    }

    private static String causeMessages(AssertableApplicationContext context) {
        StringBuilder b = new StringBuilder();
        for (Throwable t = context.getStartupFailure(); t != null; t = t.getCause()) {
            b.append(t.getMessage()).append('\n');
        }
        return b.toString();
    }

    @Test
    void anInvalidNumberIsRefusedNamingThePropertyAndValue() {
        failsWith(withTiny().withPropertyValues("langchain4j.offload.gpu.prefetch-depth=0"),
                "langchain4j.offload.gpu.prefetch-depth must be >= 1, was 0");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.gpu.max-batch-rows=0"),
                "langchain4j.offload.gpu.max-batch-rows must be >= 1, was 0");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.speculative.max-draft-tokens=0"),
                "langchain4j.offload.speculative.max-draft-tokens must be 1..63, was 0");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.max-sequences=-1"),
                "langchain4j.offload.max-sequences must be >= 0 (0 = auto: from the memory that is free), was -1");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.threads=-2"),
                "langchain4j.offload.threads must be >= 0 (0 = one per processor), was -2");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.chat-model.top-p=1.5"),
                "langchain4j.offload.chat-model.top-p must be in (0, 1] (1 = off), was 1.5");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.chat-model.temperature=-1"),
                "langchain4j.offload.chat-model.temperature must be a finite number >= 0 (0 = greedy), was -1.0");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.chat-model.max-tokens=0"),
                "langchain4j.offload.chat-model.max-tokens must be >= 1");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.quantization=int4"),
                "langchain4j.offload.quantization must be one of none, q8_0, q4_k, q6_k, was 'int4'");
    }

    @Test
    void quantizationPropertiesReachTheEngine() {
        Path cache = dir.resolve("quantized.gguf");
        withTiny().withPropertyValues("langchain4j.offload.device=cpu", "langchain4j.offload.quantization=Q8_0",
                "langchain4j.offload.quantization-cache=" + cache).run(context -> {
            assertThat(context).hasNotFailed();
            EngineOptions o = context.getBean(OffloadEngineLoader.class).options();
            assertThat(o.quantization()).isEqualTo(new io.offload4j.model.LoadQuantization(
                    io.offload4j.model.Quantization.Q8_0, cache));
            context.getBean(OffloadEngine.class).inferenceEngine();
            assertThat(cache).isRegularFile();
        });
    }

    @Test
    void everyInvalidPropertyIsReportedAtOnce() {
        failsWith(withTiny().withPropertyValues("langchain4j.offload.gpu.prefetch-depth=0",
                        "langchain4j.offload.device=gpu", "langchain4j.offload.chat-model.min-p=1"),
                "langchain4j.offload.gpu.prefetch-depth must be >= 1, was 0",
                "langchain4j.offload.device must be auto, cpu, cuda, cuda:N (N = the GPU's index), cuda:all or cuda:N,M,… (one model over several GPUs), was 'gpu'",
                "langchain4j.offload.chat-model.min-p must be in [0, 1) (0 = off), was 1.0");
    }

    @Test
    void aMissingModelFileIsNamedEvenWhenLoadingIsDeferred() {
        Path missing = dir.resolve("no-such-model.gguf");
        for (String onStartup : new String[] {"true", "false"}) {
            failsWith(runner.withPropertyValues("langchain4j.offload.model=" + missing,
                            "langchain4j.offload.load-on-startup=" + onStartup),
                    "langchain4j.offload.model names no existing file (looked for " + missing.toAbsolutePath() + ")");
        }
    }

    @Test
    void aMalformedSizeOrPlacementIsRefusedNamingTheProperty() {
        failsWith(withTiny().withPropertyValues("langchain4j.offload.gpu.memory-budget=lots"),
                "langchain4j.offload.gpu.memory-budget", "'lots' is not a memory size: expected 'auto' or a size");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.host.pinned-memory-budget=-1GB"),
                "langchain4j.offload.host.pinned-memory-budget", "'-1GB' is negative");
        failsWith(withTiny().withPropertyValues("langchain4j.offload.gpu.placement=gpu"),
                "langchain4j.offload.gpu.placement");
    }

    @Test
    void aFileThatIsNoModelStopsStartUpWithTheEnginesMessage() {
        failsWith(withTiny().withPropertyValues("langchain4j.offload.model=" + writeJunk()), "junk.gguf");
    }

    private static Path writeJunk() {
        Path junk = dir.resolve("junk.gguf");
        try {
            java.nio.file.Files.writeString(junk, "not a GGUF file");
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return junk;
    }

    // --- Hugging Face Hub models ---

    @Test
    void aHubModelIsTakenFromTheConfiguredCacheDir() throws Exception {
        // A hub cache laid out as huggingface_hub writes it; a cached file is used without any request.
        Path cache = dir.resolve("hub-cache");
        String commit = "0123456789abcdef0123456789abcdef01234567";
        Path snapshot = cache.resolve("models--offload4j--tiny/snapshots/" + commit);
        java.nio.file.Files.createDirectories(snapshot);
        java.nio.file.Files.copy(tiny, snapshot.resolve("tiny.gguf"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        java.nio.file.Files.createDirectories(cache.resolve("models--offload4j--tiny/refs"));
        java.nio.file.Files.writeString(cache.resolve("models--offload4j--tiny/refs/main"), commit);
        runner.withPropertyValues("langchain4j.offload.model=hf:offload4j/tiny/tiny.gguf",
                "langchain4j.offload.cache-dir=" + cache).run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context.getBean(OffloadEngine.class).modelName()).isEqualTo("tiny-llama");
            assertThat(context.getBean(OffloadHealth.class).report().details())
                    .containsEntry("source", "hf:offload4j/tiny/tiny.gguf");
        });
    }

    @Test
    void aHubModelIsNotLookedUpBeforeItIsLoaded() {
        // Not in this (empty) cache: with a deferred load, start-up neither fails nor touches the network.
        runner.withPropertyValues("langchain4j.offload.model=offload4j/not-there:Q4_K_M",
                "langchain4j.offload.cache-dir=" + dir.resolve("empty-cache"),
                "langchain4j.offload.load-on-startup=false").run(context -> {
            assertThat(context).hasNotFailed();
            assertThat(context.getBean(OffloadEngineHolder.class).ifLoaded()).isEmpty();
        });
    }

    // --- deferred loading ---

    @Test
    void withLoadOnStartupFalseTheFirstRequestLoadsTheModel() {
        Path stories = SharedData.require("models/stories260K.gguf");
        runner.withPropertyValues("langchain4j.offload.model=" + stories, "langchain4j.offload.load-on-startup=false",
                "langchain4j.offload.chat-model.temperature=0", "langchain4j.offload.chat-model.max-tokens=8")
                .run(context -> {
                    OffloadEngineHolder holder = context.getBean(OffloadEngineHolder.class);
                    assertThat(holder.ifLoaded()).isEmpty();
                    OffloadHealthReport before = context.getBean(OffloadHealth.class).report();
                    assertThat(before.up()).isTrue();
                    assertThat(before.details()).containsEntry("loaded", false);
                    ChatModel chat = context.getBean(ChatModel.class);
                    assertThat(chat).isInstanceOf(LazyOffloadChatModel.class);
                    assertThat(holder.ifLoaded()).isEmpty(); // asking for the bean does not load either

                    ChatResponse r = chat.chat(UserMessage.from("Once upon a time"));
                    assertThat(holder.ifLoaded()).isPresent();
                    assertThat(r.tokenUsage().outputTokenCount()).isEqualTo(8);
                    assertThat(r.modelName()).isEqualTo(holder.get().modelName());
                    assertThat(", there was a little girl named Lily.").startsWith(r.aiMessage().text());
                    assertThat(context.getBean(OffloadHealth.class).report().details())
                            .containsEntry("loaded", true);

                    StreamingChatModel streaming = context.getBean(StreamingChatModel.class);
                    assertThat(streaming).isInstanceOf(LazyOffloadStreamingChatModel.class);
                    StreamRecorder recorder = new StreamRecorder();
                    streaming.chat("Once upon a time", recorder);
                    ChatResponse streamed = recorder.done.get(30, java.util.concurrent.TimeUnit.SECONDS);
                    assertThat(streamed.aiMessage().text()).isEqualTo(r.aiMessage().text())
                            .isEqualTo(String.join("", recorder.pieces));
                });
    }

    @Test
    void aDeferredLoadThatFailsReachesTheCallerTheListenersAndTheHealth() {
        List<Throwable> errors = new ArrayList<>();
        ChatModelListener listener = new ChatModelListener() {
            @Override
            public void onError(dev.langchain4j.model.chat.listener.ChatModelErrorContext c) {
                errors.add(c.error());
            }
        };
        runner.withPropertyValues("langchain4j.offload.model=" + writeJunk(),
                "langchain4j.offload.load-on-startup=false").withBean(ChatModelListener.class, () -> listener)
                .run(context -> {
                    assertThat(context).hasNotFailed();
                    assertThatThrownBy(() -> context.getBean(ChatModel.class).chat("hi"))
                            .hasStackTraceContaining("junk.gguf");
                    assertThat(errors).hasSize(1);
                    OffloadHealthReport h = context.getBean(OffloadHealth.class).report();
                    assertThat(h.up()).isFalse();
                    assertThat(h.error()).hasStackTraceContaining("junk.gguf");
                    assertThat(h.details()).containsEntry("loaded", false);

                    StreamRecorder recorder = new StreamRecorder();
                    context.getBean(StreamingChatModel.class).chat("hi", recorder);
                    assertThat(recorder.done).isCompletedExceptionally();
                    assertThatThrownBy(recorder.done::join).hasStackTraceContaining("junk.gguf");
                    assertThat(errors).hasSize(2);
                });
    }

    /** Collects a stream's pieces; completes with its response or its error. */
    static final class StreamRecorder implements dev.langchain4j.model.chat.response.StreamingChatResponseHandler {
        final List<String> pieces = new java.util.concurrent.CopyOnWriteArrayList<>();
        final java.util.concurrent.CompletableFuture<ChatResponse> done = new java.util.concurrent.CompletableFuture<>();

        @Override
        public void onPartialResponse(String partialResponse) {
            pieces.add(partialResponse);
        }

        @Override
        public void onCompleteResponse(ChatResponse completeResponse) {
            done.complete(completeResponse);
        }

        @Override
        public void onError(Throwable error) {
            done.completeExceptionally(error);
        }
    }

    // --- health and metrics ---

    @Test
    void healthReportsTheLoadedModelItsDeviceAndMemoryButNoGpuFiguresOnTheCpu() {
        withTiny().run(context -> {
            OffloadHealthReport h = context.getBean(OffloadHealth.class).report();
            assertThat(h.up()).isTrue();
            Map<String, Object> d = h.details();
            assertThat(d).containsEntry("loaded", true).containsEntry("model", "tiny-llama")
                    .containsEntry("contextLength", 128);
            OffloadEngine engine = context.getBean(OffloadEngine.class);
            assertThat(d).containsEntry("device", engine.inferenceEngine().deviceDescription())
                    .containsEntry("memory", engine.inferenceEngine().memoryReport())
                    .containsKey("requests")
                    .doesNotContainKey("placement");
        });
    }

    @Test
    void metersReadTheEnginesCounters() {
        withTiny().run(context -> {
            MeterRegistry registry = new SimpleMeterRegistry();
            context.getBean(OffloadMetrics.class).bindTo(registry);
            String tag = "tiny-llama"; // the model's name, not its path
            assertThat(registry.get("offload4j.generated.tokens").tag("model", tag).functionCounter().count()).isZero();
            OffloadEngine engine = context.getBean(OffloadEngine.class);
            submitOneToken(engine);
            submitOneToken(engine);
            var stats = engine.stats();
            assertThat(registry.get("offload4j.generated.tokens").functionCounter().count())
                    .isEqualTo(stats.generatedTokens()).isEqualTo(2);
            assertThat(registry.get("offload4j.prompt.tokens").functionCounter().count())
                    .isEqualTo(stats.promptTokens()).isPositive();
            assertThat(registry.get("offload4j.prefix.cache.hits").functionCounter().count())
                    .isEqualTo(stats.prefixHits());
            assertThat(registry.get("offload4j.prefix.cache.misses").functionCounter().count())
                    .isEqualTo(stats.prefixMisses());
            assertThat(registry.get("offload4j.prefill.throughput").gauge().value())
                    .isEqualTo(engine.stats().prefillTokensPerSecond()).isPositive();
            assertThat(registry.get("offload4j.decode.throughput").gauge().value()).isNotNegative();
            assertThat(registry.get("offload4j.speculative.acceptance.rate").gauge().value()).isZero();
            assertThat(registry.get("offload4j.speculative.drafted.tokens").functionCounter().count()).isZero();
            assertThat(registry.find("offload4j.gpu.resident.weights").meter()).as("GPU meters on a GPU only").isNull();
            assertThat(registry.find("offload4j.gpu.cache.hits").meter()).isNull();
        });
    }
}

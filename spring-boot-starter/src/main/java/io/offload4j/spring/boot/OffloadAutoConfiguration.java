package io.offload4j.spring.boot;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.listener.ChatModelListener;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import io.micrometer.observation.ObservationRegistry;
import io.offload4j.langchain4j.OffloadEngine;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import org.springframework.beans.factory.ObjectProvider;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.boot.health.autoconfigure.contributor.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.health.contributor.HealthIndicator;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.context.annotation.Lazy;

/**
 * Loads the model named by {@code langchain4j.offload.model} into one {@link OffloadEngine} and exposes it as
 * LangChain4j {@link ChatModel} and {@link StreamingChatModel} beans sharing that engine (one scheduler, one
 * prefix cache). Active only when that property is set; every bean backs off when the application defines its
 * own of the same type.
 *
 * <p>The engine bean is lazy so that {@code load-on-startup=false} can defer it: with the default
 * ({@code true}) the chat model beans ask for it while the context starts, so a model that cannot be loaded
 * stops start-up; otherwise the first request loads it. The context closes it on shutdown.
 */
@AutoConfiguration
@ConditionalOnProperty(prefix = OffloadProperties.PREFIX, name = "model")
@EnableConfigurationProperties(OffloadProperties.class)
public class OffloadAutoConfiguration {

    @Bean
    @ConditionalOnMissingBean
    OffloadEngineLoader offloadEngineLoader(OffloadProperties properties) {
        return new OffloadEngineLoader(properties);
    }

    /** The shared engine; {@code close()} is called on context shutdown (inferred destroy method). */
    @Bean
    @Lazy
    @ConditionalOnMissingBean
    OffloadEngine offloadEngine(OffloadEngineLoader loader) {
        return loader.load();
    }

    @Bean
    @ConditionalOnMissingBean
    OffloadEngineHolder offloadEngineHolder(ObjectProvider<OffloadEngine> engine, OffloadProperties properties) {
        OffloadEngineHolder holder = new OffloadEngineHolder(engine::getObject);
        if (properties.isLoadOnStartup()) {
            holder.get();
        }
        return holder;
    }

    @Bean
    @ConditionalOnMissingBean
    ChatModel offloadChatModel(OffloadEngineHolder engine, OffloadProperties properties,
                               ObjectProvider<OffloadChatInstrumentation> instrumentation,
                               ObjectProvider<ChatModelListener> listeners) {
        ChatModelConfigurer configurer = configurer(properties, instrumentation, listeners);
        return properties.isLoadOnStartup() ? configurer.chatModel(engine.get())
                : new LazyOffloadChatModel(engine, configurer);
    }

    @Bean
    @ConditionalOnMissingBean
    StreamingChatModel offloadStreamingChatModel(OffloadEngineHolder engine, OffloadProperties properties,
                                                 ObjectProvider<OffloadChatInstrumentation> instrumentation,
                                                 ObjectProvider<ChatModelListener> listeners) {
        ChatModelConfigurer configurer = configurer(properties, instrumentation, listeners);
        return properties.isLoadOnStartup() ? configurer.streamingChatModel(engine.get())
                : new LazyOffloadStreamingChatModel(engine, configurer);
    }

    /**
     * The starter's own listeners (timers, observation) first, so that they time what the application's listeners
     * do too; then the listener beans in {@code @Order} / {@code Ordered} order, as LangChain4j will call them.
     */
    private static ChatModelConfigurer configurer(OffloadProperties properties,
                                                  ObjectProvider<OffloadChatInstrumentation> instrumentation,
                                                  ObjectProvider<ChatModelListener> listeners) {
        List<ChatModelListener> all = new ArrayList<>();
        instrumentation.orderedStream().forEach(i -> all.addAll(i.listeners()));
        all.addAll(listeners.orderedStream().toList());
        return new ChatModelConfigurer(properties.getChatModel(), all);
    }

    /** The name requests are tagged with before a response reports one: the configured name, else the model's. */
    private static Supplier<String> defaultModelName(OffloadProperties properties, OffloadEngineHolder holder) {
        String configured = properties.getChatModel().getModelName();
        return () -> holder.ifLoaded().map(e -> ModelNames.of(configured, e))
                .orElse(configured != null ? configured : "unknown");
    }

    /**
     * The engine's health in no Spring Boot line's types: read by the Boot 4 indicator below and, on Boot 3.5, by
     * the one the companion jar {@code langchain4j-offload-spring-boot3-health} registers.
     */
    @Bean
    @ConditionalOnMissingBean
    OffloadHealth offloadHealth(OffloadEngineHolder engine, OffloadProperties properties) {
        return new OffloadHealth(engine, properties.getModel());
    }

    /**
     * The {@code offload} health contributor on Spring Boot 4, when the application has Spring Boot's health support (actuator).
     * Two levels, because Spring loads every condition of a class together: the enabled-check's condition class
     * is itself part of that library, so it is only looked at once the library is known to be there.
     */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(HealthIndicator.class)
    static class HealthConfiguration {

        @Configuration(proxyBeanMethods = false)
        @ConditionalOnEnabledHealthIndicator("offload")
        static class EnabledHealthConfiguration {

            @Bean
            @ConditionalOnMissingBean(name = "offloadHealthIndicator")
            OffloadHealthIndicator offloadHealthIndicator(OffloadHealth health) {
                return new OffloadHealthIndicator(health);
            }
        }
    }

    /**
     * Meters of the engine, bound by Spring Boot to every registry, and timers of each chat request, when the
     * application has Micrometer.
     */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(MeterBinder.class)
    static class MetricsConfiguration {

        @Bean
        @ConditionalOnMissingBean
        OffloadMetrics offloadMetrics(OffloadEngineHolder engine, OffloadProperties properties) {
            return new OffloadMetrics(engine, properties.getChatModel().getModelName());
        }

        @Bean
        @ConditionalOnMissingBean(name = "offloadChatMetrics")
        OffloadChatInstrumentation offloadChatMetrics(ObjectProvider<MeterRegistry> registry, OffloadEngineHolder engine,
                                                      OffloadProperties properties) {
            return new OffloadChatInstrumentation(List.of(new OffloadChatMetricsListener(registry::getIfAvailable,
                    defaultModelName(properties, engine))));
        }
    }

    /**
     * An observation per chat request (a span with Spring Boot's tracing), when the application has Micrometer's
     * observation API (Spring Framework brings it); without an {@link ObservationRegistry} bean it does nothing.
     */
    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(ObservationRegistry.class)
    static class ObservationConfiguration {

        @Bean
        @ConditionalOnMissingBean(name = "offloadChatObservation")
        OffloadChatInstrumentation offloadChatObservation(ObjectProvider<ObservationRegistry> registry,
                                                          OffloadEngineHolder engine, OffloadProperties properties) {
            return new OffloadChatInstrumentation(List.of(new OffloadChatObservationListener(
                    () -> registry.getIfAvailable(() -> ObservationRegistry.NOOP), defaultModelName(properties, engine))));
        }
    }
}

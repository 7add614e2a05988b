package io.offload4j.spring.boot3;

import io.offload4j.spring.boot.health.OffloadHealthReporter;
import org.springframework.boot.actuate.autoconfigure.health.ConditionalOnEnabledHealthIndicator;
import org.springframework.boot.autoconfigure.AutoConfiguration;
import org.springframework.boot.autoconfigure.condition.ConditionalOnBean;
import org.springframework.boot.autoconfigure.condition.ConditionalOnClass;
import org.springframework.boot.autoconfigure.condition.ConditionalOnMissingBean;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;

/**
 * Registers the {@code offload} health contributor on Spring Boot 3.5, whose actuator has its health types in
 * {@code org.springframework.boot.actuate.health} (Boot 4 moved them; the starter registers its Boot 4 indicator
 * itself). After the starter's auto-configuration, so that its {@link OffloadHealthReporter} bean is known.
 *
 * <p>Three levels, because Spring reads every condition of a class together: the outer one only names Boot 3's
 * class as a string, and the classes of Boot 3's own condition are looked at only once that class is known to be
 * there (on Boot 4 none of them exists).
 */
@AutoConfiguration(afterName = "io.offload4j.spring.boot.OffloadAutoConfiguration")
@ConditionalOnClass(name = "org.springframework.boot.actuate.health.HealthIndicator")
public class Boot3OffloadHealthAutoConfiguration {

    @Configuration(proxyBeanMethods = false)
    @ConditionalOnClass(name = "org.springframework.boot.actuate.autoconfigure.health.ConditionalOnEnabledHealthIndicator")
    static class Boot3Actuator {

        @Configuration(proxyBeanMethods = false)
        @ConditionalOnEnabledHealthIndicator("offload")
        static class Enabled {

            @Bean
            @ConditionalOnBean(OffloadHealthReporter.class)
            @ConditionalOnMissingBean(name = "offloadHealthIndicator")
            Boot3OffloadHealthIndicator offloadHealthIndicator(OffloadHealthReporter reporter) {
                return new Boot3OffloadHealthIndicator(reporter);
            }
        }
    }
}

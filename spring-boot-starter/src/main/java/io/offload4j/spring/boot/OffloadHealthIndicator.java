package io.offload4j.spring.boot;

import io.offload4j.spring.boot.health.OffloadHealthReport;
import io.offload4j.spring.boot.health.OffloadHealthReporter;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The {@code offload} health contributor on Spring Boot 4 ({@code spring-boot-health}): the {@link OffloadHealth}
 * report in Boot 4's types. On Boot 3.5 the starter's companion jar registers its Boot 3 twin.
 */
public class OffloadHealthIndicator implements HealthIndicator {

    private final OffloadHealthReporter reporter;

    public OffloadHealthIndicator(OffloadHealthReporter reporter) {
        this.reporter = reporter;
    }

    @Override
    public Health health() {
        OffloadHealthReport report = reporter.report();
        Health.Builder health = report.up() ? Health.up()
                : report.error() != null ? Health.down(report.error()) : Health.down();
        return health.withDetails(report.details()).build();
    }
}

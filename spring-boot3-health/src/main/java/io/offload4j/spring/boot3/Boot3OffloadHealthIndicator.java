package io.offload4j.spring.boot3;

import io.offload4j.spring.boot.health.OffloadHealthReport;
import io.offload4j.spring.boot.health.OffloadHealthReporter;
import org.springframework.boot.actuate.health.Health;
import org.springframework.boot.actuate.health.HealthIndicator;

/** The {@code offload} health contributor on Spring Boot 3.5: the starter's report in Boot 3's types. */
public class Boot3OffloadHealthIndicator implements HealthIndicator {

    private final OffloadHealthReporter reporter;

    public Boot3OffloadHealthIndicator(OffloadHealthReporter reporter) {
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

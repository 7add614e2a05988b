package io.offload4j.spring.boot.health;

import java.util.Map;

/**
 * What the {@code offload} health contributor says, in no Spring Boot line's types: each line's indicator (Boot
 * 4's {@code org.springframework.boot.health.contributor}, Boot 3's {@code org.springframework.boot.actuate.health})
 * turns it into its own {@code Health}.
 *
 * @param up      UP when true, DOWN when false
 * @param error   why it is DOWN (the last failed load), or null
 * @param details the details, in the order they are shown
 */
public record OffloadHealthReport(boolean up, Throwable error, Map<String, Object> details) {

    public OffloadHealthReport {
        details = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(details));
    }
}

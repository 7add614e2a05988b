package io.offload4j.spring.boot.diagnostics;

import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.core.Ordered;

/**
 * Reports an {@link OffloadStartupException} (a model that cannot be loaded, a JVM older than Java 25) as Spring
 * Boot's "APPLICATION FAILED TO START" report, instead of the bean-creation chain that wraps it.
 */
public class OffloadStartupFailureAnalyzer extends AbstractFailureAnalyzer<OffloadStartupException>
        implements Ordered {

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, OffloadStartupException cause) {
        return new FailureAnalysis(cause.description(), cause.action(), cause);
    }

    /** Before Spring's general analyzers, which would describe the wrapping bean-creation failure. */
    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }
}

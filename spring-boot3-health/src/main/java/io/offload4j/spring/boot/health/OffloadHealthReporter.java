package io.offload4j.spring.boot.health;

/** Reports the engine's health on request; the starter's bean, read by the health indicator of each Boot line. */
@FunctionalInterface
public interface OffloadHealthReporter {

    /** The health now; never loads the model. */
    OffloadHealthReport report();
}

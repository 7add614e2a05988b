package io.offload4j.spring.boot.diagnostics;

import java.util.Set;
import org.apache.commons.logging.Log;
import org.apache.commons.logging.LogFactory;
import org.springframework.context.ApplicationContextInitializer;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.core.Ordered;
import org.springframework.core.env.ConfigurableEnvironment;

/**
 * Checks that run before any bean is defined, when nothing of the starter's Java 25 code has been loaded yet:
 * <ul>
 *   <li>with {@code langchain4j.offload.model} set on a JVM older than Java 25, start-up stops with one sentence
 *       (what is needed, what was found, how to run with Java 25) instead of the {@code UnsupportedClassVersionError}
 *       that condition evaluation would meet;</li>
 *   <li>with {@code langchain4j.offload.*} keys but no {@code model}, a WARN says that the starter is off.</li>
 * </ul>
 * Registered in {@code META-INF/spring.factories}, so every {@code SpringApplication} runs it. Compiled for Java 17.
 */
public class OffloadStartupChecks implements ApplicationContextInitializer<ConfigurableApplicationContext>, Ordered {

    /** The Java feature release the engine is compiled for. */
    static final int REQUIRED_JAVA = 25;

    private static final Log LOG = LogFactory.getLog(OffloadStartupChecks.class);

    @Override
    public void initialize(ConfigurableApplicationContext context) {
        ConfigurableEnvironment environment = context.getEnvironment();
        if (OffloadPropertyKeys.anyModelIsSet(environment)) {
            requireJava(Runtime.version().feature(), System.getProperty("java.version"),
                    System.getProperty("java.home"));
        }
        if (OffloadPropertyKeys.modelIsSet(environment)) {
            return;
        }
        Set<String> keys = OffloadPropertyKeys.presentWithoutEffect(environment);
        if (!keys.isEmpty()) {
            LOG.warn(OffloadPropertyKeys.unusedKeysSentence(keys) + ". " + OffloadPropertyKeys.SET_MODEL_ACTION);
        }
    }

    /**
     * @throws OffloadStartupException when {@code feature} is below {@link #REQUIRED_JAVA}
     */
    static void requireJava(int feature, String version, String javaHome) {
        if (feature >= REQUIRED_JAVA) {
            return;
        }
        throw new OffloadStartupException("offload4j needs Java " + REQUIRED_JAVA + " or newer, but this"
                + " application runs on Java " + version + " (" + javaHome + "); run it with a Java " + REQUIRED_JAVA
                + " JDK: set JAVA_HOME to it for mvn spring-boot:run or your IDE, or start the jar with its"
                + " bin/java --add-modules jdk.incubator.vector -jar app.jar.",
                "Install a Java " + REQUIRED_JAVA + " JDK (e.g. Eclipse Temurin 25) and run the application with it.");
    }

    /** First, before other initializers could touch the starter's classes. */
    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }
}

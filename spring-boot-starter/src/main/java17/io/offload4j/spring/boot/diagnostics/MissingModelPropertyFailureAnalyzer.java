package io.offload4j.spring.boot.diagnostics;

import java.util.Set;
import org.springframework.beans.factory.NoSuchBeanDefinitionException;
import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.core.Ordered;
import org.springframework.core.ResolvableType;
import org.springframework.core.env.Environment;

/**
 * A missing {@code ChatModel}, {@code StreamingChatModel} or {@code OffloadEngine} bean in an application that
 * has {@code langchain4j.offload.*} keys but no {@code langchain4j.offload.model} (often a typo such as
 * {@code langchain4j.offload.modle}): says that the starter is off and why, where Spring would only say that no
 * bean of that type exists.
 */
public class MissingModelPropertyFailureAnalyzer extends AbstractFailureAnalyzer<NoSuchBeanDefinitionException>
        implements Ordered {

    private static final Set<String> STARTER_TYPES = Set.of("dev.langchain4j.model.chat.ChatModel",
            "dev.langchain4j.model.chat.StreamingChatModel", "io.offload4j.langchain4j.OffloadEngine");

    private final Environment environment;

    /** Spring Boot hands failure analyzers the application's environment through their constructor. */
    public MissingModelPropertyFailureAnalyzer(Environment environment) {
        this.environment = environment;
    }

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, NoSuchBeanDefinitionException cause) {
        ResolvableType type = cause.getResolvableType();
        Class<?> raw = type == null ? null : type.resolve();
        if (raw == null || !STARTER_TYPES.contains(raw.getName()) || environment == null
                || OffloadPropertyKeys.modelIsSet(environment)) {
            return null;
        }
        Set<String> keys = OffloadPropertyKeys.presentWithoutEffect(environment);
        if (keys.isEmpty()) {
            return null; // nothing says the application meant to use offload4j: Spring's own report fits
        }
        return new FailureAnalysis("No " + raw.getSimpleName() + " bean: "
                + OffloadPropertyKeys.unusedKeysSentence(keys) + ".", OffloadPropertyKeys.SET_MODEL_ACTION, cause);
    }

    /** Before Spring's own analyzer of the same exception. */
    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }
}

package io.offload4j.spring.boot.diagnostics;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.springframework.boot.context.properties.bind.BindException;
import org.springframework.boot.context.properties.bind.validation.BindValidationException;
import org.springframework.boot.context.properties.source.ConfigurationProperty;
import org.springframework.boot.diagnostics.AbstractFailureAnalyzer;
import org.springframework.boot.diagnostics.FailureAnalysis;
import org.springframework.boot.origin.Origin;
import org.springframework.core.Ordered;
import org.springframework.validation.ObjectError;

/**
 * Wrong {@code langchain4j.offload.*} values: every refused key with its value, where it was set and what it
 * accepts, and an action that names the accepted values, where Spring's own report would end in "Update your
 * application's configuration". Values are checked when they are bound, before any model is loaded.
 */
public class OffloadConfigurationFailureAnalyzer extends AbstractFailureAnalyzer<BindException> implements Ordered {

    /** What the keys whose values Spring converts (rather than our validator checks) accept. */
    private static final Map<String, String> ACCEPTED = Map.of(
            "gpu.memory-budget", "auto (free GPU memory minus a margin) or a size such as 512MB or 6GB",
            "host.pinned-memory-budget", "auto or a size such as 512MB or 6GB",
            "prefix-cache", "auto, 0 (off) or a size such as 512MB or 2GB",
            "gpu.placement", "auto, stream or cpu");

    @Override
    protected FailureAnalysis analyze(Throwable rootFailure, BindException cause) {
        String target = cause.getName() == null ? "" : cause.getName().toString();
        if (!(target + ".").startsWith(OffloadPropertyKeys.PREFIX)) {
            return null;
        }
        BindValidationException validation = findCause(cause, BindValidationException.class);
        if (validation != null) {
            List<String> lines = new ArrayList<>();
            for (ObjectError error : validation.getValidationErrors().getAllErrors()) {
                lines.add("  - " + error.getDefaultMessage() + where(Origin.from(error)));
            }
            return new FailureAnalysis("Invalid offload4j configuration:\n" + String.join("\n", lines),
                    "Correct the properties above: each line says what its property accepts (the starter's README"
                            + " lists every langchain4j.offload key).", cause);
        }
        ConfigurationProperty property = cause.getProperty();
        String key = property != null ? property.getName().toString() : target;
        Object value = property != null ? property.getValue() : null;
        String accepted = ACCEPTED.get(key.substring(Math.min(key.length(), OffloadPropertyKeys.PREFIX.length())));
        return new FailureAnalysis(key + " = '" + value + "' cannot be used: " + converterMessage(cause)
                + where(property == null ? null : property.getOrigin()),
                "Set " + key + " to " + (accepted != null ? accepted
                        : "a value of its type (the starter's README lists every langchain4j.offload key)") + ".",
                cause);
    }

    private static String where(Origin origin) {
        return origin == null ? "" : " (from " + origin + ")";
    }

    /**
     * What the converter said about the value: the first {@link IllegalArgumentException} under the binder's
     * wrapping (its own cause, if any, is a detail such as the size parser's pattern), else the innermost message.
     */
    private static String converterMessage(Throwable t) {
        String innermost = t.getMessage();
        for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            if (c instanceof IllegalArgumentException && c.getMessage() != null) {
                return c.getMessage();
            }
            if (c.getMessage() != null) {
                innermost = c.getMessage();
            }
        }
        return innermost;
    }

    /** Before Spring's own analyzers of binding failures. */
    @Override
    public int getOrder() {
        return Ordered.HIGHEST_PRECEDENCE;
    }
}

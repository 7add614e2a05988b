package io.offload4j.spring.boot.diagnostics;

/**
 * Why the offload4j starter cannot start the application, told as Spring Boot's failure report tells it: a
 * description that names the property and its value, and an action that says what to do.
 * {@link OffloadStartupFailureAnalyzer} turns it into the "APPLICATION FAILED TO START" report; a request that
 * loads the model lazily gets it as its error, whose message is the description followed by the action.
 *
 * <p>Compiled for Java 17, as everything in this package, so that it loads on the JVM it explains.
 */
public class OffloadStartupException extends RuntimeException {

    private final String description;
    private final String action;

    public OffloadStartupException(String description, String action, Throwable cause) {
        super(description + " " + action, cause);
        this.description = description;
        this.action = action;
    }

    public OffloadStartupException(String description, String action) {
        this(description, action, null);
    }

    /** What went wrong: the property, its value and the failure. */
    public String description() {
        return description;
    }

    /** What to do about it. */
    public String action() {
        return action;
    }
}

package io.offload4j.chat;

import java.util.Objects;

/**
 * A chat template could not be compiled or rendered. The message names the template, the line (when known) and
 * what is wrong; for a template that calls {@code raise_exception(msg)}, {@link #templateMessage()} is exactly
 * {@code msg}, the text the model's authors wrote (e.g. "Conversation roles must alternate
 * user/assistant/user/assistant/...").
 */
public final class TemplateException extends RuntimeException {

    /** What went wrong. */
    public enum Kind {
        /** The template source is not valid Jinja (reported when the template is compiled). */
        SYNTAX,
        /** The template itself called {@code raise_exception(...)}: the conversation is not one it accepts. */
        RAISED,
        /** Evaluating the template failed (a type error, an unknown filter, a recursion limit ...). */
        RENDER
    }

    private final Kind kind;
    private final String templateName;
    private final int line;
    private final String templateMessage;

    TemplateException(Kind kind, String templateName, int line, String templateMessage, Throwable cause) {
        super(format(kind, templateName, line, templateMessage), cause);
        this.kind = Objects.requireNonNull(kind);
        this.templateName = templateName;
        this.line = line;
        this.templateMessage = templateMessage;
    }

    private static String format(Kind kind, String name, int line, String detail) {
        String where = "chat template '" + name + "'" + (line > 0 ? " (line " + line + ")" : "");
        return switch (kind) {
            case SYNTAX -> "Syntax error in " + where + ": " + detail;
            case RAISED -> "The " + where + " raised an error: " + detail;
            case RENDER -> "Error rendering " + where + ": " + detail;
        };
    }

    public Kind kind() {
        return kind;
    }

    /** The template's name: the model or file it came from, or "inline" / a built-in format's name. */
    public String templateName() {
        return templateName;
    }

    /** 1-based line in the template source, or -1 when unknown. */
    public int line() {
        return line;
    }

    /** The bare detail: for {@link Kind#RAISED}, the template's own message, verbatim. */
    public String templateMessage() {
        return templateMessage;
    }
}

package io.offload4j.chat;

/**
 * A Python-level error raised while a template runs (a {@code TypeError}, an unsafe attribute, ...); surfaces to
 * callers as a {@link TemplateException} of kind {@link TemplateException.Kind#RENDER}.
 */
final class TemplateRuntimeError extends RuntimeException {

    TemplateRuntimeError(String message) {
        super(message, null, false, false);
        Jinja2Functions.RenderState state = Jinja2Functions.RenderState.peek();
        if (state != null && state.firstError == null) {
            state.firstError = this;
        }
    }
}

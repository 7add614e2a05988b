package io.offload4j.chat;

import com.hubspot.jinjava.el.ext.NamedParameter;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import com.hubspot.jinjava.objects.Namespace;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The global functions Hugging Face's renderer gives templates: {@code raise_exception(msg)},
 * {@code strftime_now(fmt)}, plus Jinja2's {@code namespace(...)} and {@code dict(...)} (Jinjava's namespace drops
 * attributes set to None). Per-render state (the clock, a raised message) lives in a {@link RenderState} bound to
 * the rendering thread.
 */
final class Jinja2Functions {

    private Jinja2Functions() {}

    static final List<String> NAMES = List.of("raise_exception", "strftime_now", "namespace", "dict");

    static List<ELFunctionDefinition> all() {
        return List.of(
                new ELFunctionDefinition("", "raise_exception", Jinja2Functions.class, "raiseException", Object.class),
                new ELFunctionDefinition("", "strftime_now", Jinja2Functions.class, "strftimeNow", Object.class),
                new ELFunctionDefinition("", "namespace", Jinja2Functions.class, "namespace", Object[].class),
                new ELFunctionDefinition("", "dict", Jinja2Functions.class, "dict", Object[].class));
    }

    /** State of the render running on this thread. */
    static final class RenderState {
        private static final ThreadLocal<RenderState> CURRENT = new ThreadLocal<>();

        final Clock clock;
        volatile String raised;
        /** The first Python-level error of this render (its message is clearer than Jinjava's wrapping). */
        volatile TemplateRuntimeError firstError;
        volatile int raisedLine = -1;

        RenderState(Clock clock) {
            this.clock = clock;
        }

        static RenderState current() {
            RenderState s = CURRENT.get();
            if (s == null) {
                throw new IllegalStateException("no chat template render in progress on this thread");
            }
            return s;
        }

        RenderState bind() {
            CURRENT.set(this);
            return this;
        }

        static RenderState peek() {
            return CURRENT.get();
        }

        static void unbind() {
            CURRENT.remove();
        }
    }

    /** {@code raise_exception(message)}: stops the render; the caller gets a TemplateException of kind RAISED. */
    public static Object raiseException(Object message) {
        RenderState state = RenderState.current();
        String text = message == null ? "None" : Py.str(message);
        if (state.raised == null) {
            state.raised = text;
            com.hubspot.jinjava.interpret.JinjavaInterpreter interpreter =
                    com.hubspot.jinjava.interpret.JinjavaInterpreter.getCurrent();
            state.raisedLine = interpreter == null ? -1 : interpreter.getLineNumber();
        }
        throw new TemplateRuntimeError(text);
    }

    /** {@code strftime_now(format)}: the render's clock, formatted like Python's {@code datetime.now().strftime}. */
    public static String strftimeNow(Object format) {
        if (!Py.isString(format)) {
            throw new TemplateRuntimeError("strftime_now() argument must be str, not " + Py.typeName(format));
        }
        Clock clock = RenderState.current().clock;
        return Strftime.format(ZonedDateTime.now(clock), format.toString());
    }

    /** {@code namespace(dict_or_none, key=value, ...)}: a mutable attribute holder for {@code set ns.x = ...}. */
    public static Object namespace(Object... args) {
        Map<String, Object> values = new LinkedHashMap<>();
        fill(values, args, "namespace");
        return new Namespace(values);
    }

    /** {@code dict(key=value, ...)} / {@code dict(mapping)}. */
    public static Object dict(Object... args) {
        Map<String, Object> values = new LinkedHashMap<>();
        fill(values, args, "dict");
        return values;
    }

    private static void fill(Map<String, Object> values, Object[] args, String fn) {
        if (args == null) {
            return;
        }
        for (Object a : args) {
            if (a instanceof NamedParameter p) {
                values.put(p.getName(), p.getValue());
            } else if (a instanceof Map<?, ?> m) {
                m.forEach((k, v) -> values.put(String.valueOf(k), v));
            } else if (a != null) {
                throw new TemplateRuntimeError(fn + "() positional argument must be a mapping, not "
                        + Py.typeName(a));
            }
        }
    }
}

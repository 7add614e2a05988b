package io.offload4j.chat;

import com.hubspot.jinjava.objects.SafeString;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Python's {@code json.dumps} as Hugging Face's {@code tojson} filter calls it: {@code ensure_ascii=False} by
 * default, separators {@code ", "} and {@code ": "} (or {@code ","} and {@code ": "} with an indent), keys in
 * insertion order unless {@code sort_keys}, {@code NaN}/{@code Infinity} for non-finite floats.
 */
final class PyJson {

    private final String indent; // null: single line
    private final String itemSeparator;
    private final String keySeparator;
    private final boolean ensureAscii;
    private final boolean sortKeys;

    PyJson(String indent, String itemSeparator, String keySeparator, boolean ensureAscii, boolean sortKeys) {
        this.indent = indent;
        this.itemSeparator = itemSeparator != null ? itemSeparator : (indent == null ? ", " : ",");
        this.keySeparator = keySeparator != null ? keySeparator : ": ";
        this.ensureAscii = ensureAscii;
        this.sortKeys = sortKeys;
    }

    /** {@code json.dumps(value, ensure_ascii=False)}. */
    static String dumps(Object value) {
        return new PyJson(null, null, null, false, false).write(value);
    }

    String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(value, sb, 0);
        return sb.toString();
    }

    private void write(Object o, StringBuilder sb, int level) {
        if (level > 500) {
            throw new TemplateRuntimeError("tojson: value nested too deeply (circular reference?)");
        }
        if (o == null) {
            sb.append("null");
        } else if (o instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (o instanceof Double || o instanceof Float || o instanceof BigDecimal) {
            double d = ((Number) o).doubleValue();
            if (Double.isNaN(d)) {
                sb.append("NaN");
            } else if (Double.isInfinite(d)) {
                sb.append(d > 0 ? "Infinity" : "-Infinity");
            } else {
                sb.append(Py.floatRepr(d));
            }
        } else if (o instanceof Number n) {
            sb.append(n);
        } else if (o instanceof CharSequence || o instanceof SafeString || o instanceof Character) {
            string(o.toString(), sb);
        } else if (o instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            List<Map.Entry<?, ?>> entries = new ArrayList<>(m.entrySet());
            if (sortKeys) {
                entries.sort((a, b) -> key(a.getKey()).compareTo(key(b.getKey())));
            }
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : entries) {
                if (!first) {
                    sb.append(itemSeparator);
                }
                first = false;
                newline(sb, level + 1);
                string(key(e.getKey()), sb);
                sb.append(keySeparator);
                write(e.getValue(), sb, level + 1);
            }
            newline(sb, level);
            sb.append('}');
        } else if (o instanceof Iterable<?> || o.getClass().isArray()) {
            List<Object> items = Py.iterate(o);
            if (items.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            boolean first = true;
            for (Object item : items) {
                if (!first) {
                    sb.append(itemSeparator);
                }
                first = false;
                newline(sb, level + 1);
                write(item, sb, level + 1);
            }
            newline(sb, level);
            sb.append(']');
        } else {
            throw new TemplateRuntimeError("Object of type " + Py.typeName(o) + " is not JSON serializable");
        }
    }

    /** Dict keys as json.dumps writes them: strings as they are, True → "true", None → "null", numbers. */
    private static String key(Object k) {
        if (k == null) {
            return "null";
        }
        if (k instanceof Boolean b) {
            return b ? "true" : "false";
        }
        if (k instanceof Double || k instanceof Float) {
            return Py.floatRepr(((Number) k).doubleValue());
        }
        if (k instanceof Number || Py.isString(k)) {
            return k.toString();
        }
        throw new TemplateRuntimeError("keys must be str, int, float, bool or None, not " + Py.typeName(k));
    }

    private void newline(StringBuilder sb, int level) {
        if (indent != null) {
            sb.append('\n');
            sb.append(indent.repeat(level));
        }
    }

    private void string(String s, StringBuilder sb) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7e)) {
                        // json.dumps escapes each UTF-16 unit, so astral characters become surrogate pairs
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}

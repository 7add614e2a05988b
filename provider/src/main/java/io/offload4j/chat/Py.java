package io.offload4j.chat;

import com.hubspot.jinjava.objects.SafeString;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Python semantics for the values a template sees: {@code str()}, {@code repr()}, truthiness, {@code len()},
 * whitespace as {@code str.isspace()} defines it, and {@code json.dumps}. Values are the Java shapes Jinjava
 * hands around: {@code null} (None or undefined), Boolean, Number, CharSequence, Map, List/Collection, arrays.
 */
final class Py {

    private Py() {}

    /** A Python tuple: a list that prints with parentheses ({@code ('a', 1)}), as dict items and dictsort give. */
    static final class Tuple extends ArrayList<Object> {
        private static final long serialVersionUID = 1L;

        Tuple(Object... items) {
            super(java.util.Arrays.asList(items));
        }
    }

    /** Python truthiness ({@code bool(x)}); Jinjava's own treats the string "false" as false, Python does not. */
    static boolean truthy(Object o) {
        if (o == null) {
            return false;
        }
        if (o instanceof Boolean b) {
            return b;
        }
        if (o instanceof BigDecimal d) {
            return d.signum() != 0;
        }
        if (o instanceof BigInteger i) {
            return i.signum() != 0;
        }
        if (o instanceof Number n) {
            return n.doubleValue() != 0;
        }
        if (o instanceof CharSequence s) {
            return !s.isEmpty();
        }
        if (o instanceof SafeString s) {
            return !s.toString().isEmpty();
        }
        if (o instanceof Collection<?> c) {
            return !c.isEmpty();
        }
        if (o instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        if (o.getClass().isArray()) {
            return java.lang.reflect.Array.getLength(o) != 0;
        }
        if (o instanceof LoopContext) {
            return true;
        }
        return true;
    }

    static boolean isString(Object o) {
        return o instanceof CharSequence || o instanceof SafeString;
    }

    static boolean isInteger(Object o) {
        return o instanceof Integer || o instanceof Long || o instanceof Short || o instanceof Byte
                || o instanceof BigInteger;
    }

    /** {@code str(x)}. */
    static String str(Object o) {
        if (o == null) {
            return "None";
        }
        if (o instanceof String s) {
            return s;
        }
        if (o instanceof CharSequence || o instanceof SafeString) {
            return o.toString();
        }
        return repr(o);
    }

    /** {@code repr(x)}: how Python prints a value inside a list or dict. */
    static String repr(Object o) {
        StringBuilder sb = new StringBuilder();
        repr(o, sb, 0);
        return sb.toString();
    }

    private static void repr(Object o, StringBuilder sb, int depth) {
        if (depth > 200) {
            throw new IllegalStateException("value nested too deeply to print");
        }
        if (o == null) {
            sb.append("None");
        } else if (o instanceof Boolean b) {
            sb.append(b ? "True" : "False");
        } else if (o instanceof Double || o instanceof Float) {
            sb.append(floatRepr(((Number) o).doubleValue()));
        } else if (o instanceof BigDecimal d) {
            sb.append(floatRepr(d.doubleValue()));
        } else if (o instanceof Number n) {
            sb.append(n);
        } else if (o instanceof CharSequence || o instanceof SafeString || o instanceof Character) {
            stringRepr(o.toString(), sb);
        } else if (o instanceof Map<?, ?> m) {
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                repr(e.getKey(), sb, depth + 1);
                sb.append(": ");
                repr(e.getValue(), sb, depth + 1);
            }
            sb.append('}');
        } else if (o instanceof Tuple t) {
            sb.append('(');
            for (int i = 0; i < t.size(); i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                repr(t.get(i), sb, depth + 1);
            }
            sb.append(t.size() == 1 ? ",)" : ")");
        } else if (o instanceof Iterable<?> || o.getClass().isArray()) {
            sb.append('[');
            boolean first = true;
            for (Object item : iterate(o)) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                repr(item, sb, depth + 1);
            }
            sb.append(']');
        } else {
            sb.append(o);
        }
    }

    /** Python's {@code repr(str)}: single quotes unless the text has ' and no ", escapes for the unprintable. */
    static void stringRepr(String s, StringBuilder sb) {
        char quote = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        sb.append(quote);
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (cp == quote || cp == '\\') {
                sb.append('\\').appendCodePoint(cp);
            } else if (cp == '\n') {
                sb.append("\\n");
            } else if (cp == '\r') {
                sb.append("\\r");
            } else if (cp == '\t') {
                sb.append("\\t");
            } else if (isPrintable(cp)) {
                sb.appendCodePoint(cp);
            } else if (cp < 0x100) {
                sb.append(String.format("\\x%02x", cp));
            } else if (cp < 0x10000) {
                sb.append(String.format("\\u%04x", cp));
            } else {
                sb.append(String.format("\\U%08x", cp));
            }
        }
        sb.append(quote);
    }

    /** Approximates {@code str.isprintable()} for one code point (space counts as printable). */
    private static boolean isPrintable(int cp) {
        if (cp == ' ') {
            return true;
        }
        return switch (Character.getType(cp)) {
            case Character.CONTROL, Character.FORMAT, Character.SURROGATE, Character.PRIVATE_USE,
                    Character.UNASSIGNED, Character.LINE_SEPARATOR, Character.PARAGRAPH_SEPARATOR,
                    Character.SPACE_SEPARATOR -> false;
            default -> true;
        };
    }

    /** Python's {@code repr(float)}: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        // Java's Double.toString gives the shortest digits that round-trip (JDK 19+), like Python's repr.
        BigDecimal bd = new BigDecimal(Double.toString(Math.abs(d))).stripTrailingZeros();
        String digits = bd.unscaledValue().toString();
        int exponent = digits.length() - 1 - bd.scale(); // decimal exponent of the first digit
        StringBuilder sb = new StringBuilder();
        if (d < 0) {
            sb.append('-');
        }
        if (exponent < -4 || exponent >= 16) {
            sb.append(digits.charAt(0));
            if (digits.length() > 1) {
                sb.append('.').append(digits, 1, digits.length());
            }
            sb.append('e').append(exponent < 0 ? '-' : '+');
            int abs = Math.abs(exponent);
            if (abs < 10) {
                sb.append('0');
            }
            sb.append(abs);
        } else if (exponent < 0) {
            sb.append("0.");
            sb.append("0".repeat(-exponent - 1));
            sb.append(digits);
        } else if (digits.length() <= exponent + 1) {
            sb.append(digits);
            sb.append("0".repeat(exponent + 1 - digits.length()));
            sb.append(".0");
        } else {
            sb.append(digits, 0, exponent + 1).append('.').append(digits, exponent + 1, digits.length());
        }
        return sb.toString();
    }

    /** {@code len(x)} for str (code points), list, dict; -1 when x has no length. */
    static int len(Object o) {
        if (o instanceof CharSequence || o instanceof SafeString) {
            String s = o.toString();
            return s.codePointCount(0, s.length());
        }
        if (o instanceof Collection<?> c) {
            return c.size();
        }
        if (o instanceof Map<?, ?> m) {
            return m.size();
        }
        if (o != null && o.getClass().isArray()) {
            return java.lang.reflect.Array.getLength(o);
        }
        if (o instanceof Iterable<?> it) {
            int n = 0;
            for (Iterator<?> i = it.iterator(); i.hasNext(); i.next()) {
                n++;
            }
            return n;
        }
        return -1;
    }

    /** What {@code for x in o} visits: list items, dict keys, string characters; nothing for None/undefined. */
    static List<Object> iterate(Object o) {
        List<Object> out = new ArrayList<>();
        if (o == null) {
            return out;
        }
        if (o instanceof Map<?, ?> m) {
            out.addAll(m.keySet());
        } else if (o instanceof Iterable<?> it) {
            it.forEach(out::add);
        } else if (o.getClass().isArray()) {
            int n = java.lang.reflect.Array.getLength(o);
            for (int i = 0; i < n; i++) {
                out.add(java.lang.reflect.Array.get(o, i));
            }
        } else if (isString(o)) {
            String s = o.toString();
            s.codePoints().forEach(cp -> out.add(new String(Character.toChars(cp))));
        } else if (o instanceof Iterator<?> it) {
            it.forEachRemaining(out::add);
        } else {
            throw new TemplateRuntimeError("'" + typeName(o) + "' object is not iterable");
        }
        return out;
    }

    static boolean isIterable(Object o) {
        return o instanceof Iterable<?> || o instanceof Map<?, ?> || isString(o)
                || (o != null && o.getClass().isArray()) || o instanceof Iterator<?>;
    }

    /** The Python type name, for messages. */
    static String typeName(Object o) {
        if (o == null) {
            return "NoneType";
        }
        if (o instanceof Boolean) {
            return "bool";
        }
        if (isInteger(o)) {
            return "int";
        }
        if (o instanceof Number) {
            return "float";
        }
        if (isString(o)) {
            return "str";
        }
        if (o instanceof Map<?, ?>) {
            return "dict";
        }
        if (o instanceof Iterable<?> || o.getClass().isArray()) {
            return "list";
        }
        return o.getClass().getSimpleName();
    }

    /** Python {@code str.isspace()} for one code point. */
    static boolean isSpace(int cp) {
        return switch (cp) {
            case '\t', '\n', 0x0b, 0x0c, '\r', 0x1c, 0x1d, 0x1e, 0x1f, ' ', 0x85, 0xa0, 0x1680, 0x2028, 0x2029,
                    0x202f, 0x205f, 0x3000 -> true;
            default -> cp >= 0x2000 && cp <= 0x200a;
        };
    }

    /** {@code s.strip()}, {@code lstrip()}, {@code rstrip()} with Python's whitespace or the given characters. */
    static String strip(String s, String chars, boolean left, boolean right) {
        int start = 0;
        int end = s.length();
        if (left) {
            while (start < end) {
                int cp = s.codePointAt(start);
                if (!stripped(cp, chars)) {
                    break;
                }
                start += Character.charCount(cp);
            }
        }
        if (right) {
            while (end > start) {
                int cp = s.codePointBefore(end);
                if (!stripped(cp, chars)) {
                    break;
                }
                end -= Character.charCount(cp);
            }
        }
        return s.substring(start, end);
    }

    private static boolean stripped(int cp, String chars) {
        return chars == null ? isSpace(cp) : chars.indexOf(Character.toString(cp)) >= 0;
    }

    /** Python equality as {@code ==} compares template values (1 == 1.0, "a" == "a"). */
    static boolean equal(Object a, Object b) {
        if (a == null || b == null) {
            return a == b;
        }
        if (a instanceof Number x && b instanceof Number y && !(a instanceof Boolean)) {
            if (isInteger(x) && isInteger(y)) {
                return new BigInteger(x.toString()).equals(new BigInteger(y.toString()));
            }
            return x.doubleValue() == y.doubleValue();
        }
        if (isString(a) && isString(b)) {
            return a.toString().equals(b.toString());
        }
        return a.equals(b);
    }
}

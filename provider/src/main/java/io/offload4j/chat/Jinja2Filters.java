package io.offload4j.chat;

import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import com.hubspot.jinjava.lib.filter.AdvancedFilter;
import com.hubspot.jinjava.lib.filter.Filter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Function;

/**
 * Filters with Jinja2's (and Hugging Face's) semantics where Jinjava's differ: {@code tojson} (HF's: Python
 * {@code json.dumps} spacing, {@code ensure_ascii=False}, {@code indent}), {@code items}, {@code trim} (Python
 * whitespace, optional chars), {@code length}/{@code count} (code points), {@code string}, {@code list},
 * {@code first}, {@code last}, {@code join}, {@code default}/{@code d}, {@code select}/{@code reject}/
 * {@code selectattr}/{@code rejectattr} (Python truthiness), {@code map}, {@code upper}, {@code lower},
 * {@code title}, {@code capitalize}, {@code replace}, {@code safe}.
 */
final class Jinja2Filters {

    private Jinja2Filters() {}

    /** A filter from a name and a function of (value, positional args, keyword args). */
    private record Simple(String name, Impl impl) implements AdvancedFilter {
        @Override
        public String getName() {
            return name;
        }

        @Override
        public Object filter(Object var, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
            return impl.apply(var, interpreter, args == null ? new Object[0] : args, kwargs == null ? Map.of() : kwargs);
        }
    }

    @FunctionalInterface
    private interface Impl {
        Object apply(Object value, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs);
    }

    static List<Filter> all() {
        List<Filter> filters = new ArrayList<>();
        filters.add(new Simple("tojson", Jinja2Filters::tojson));
        filters.add(new Simple("items", (v, i, a, k) -> {
            if (v == null) {
                return new ArrayList<>();
            }
            if (!(v instanceof Map<?, ?> m)) {
                throw new TemplateRuntimeError("Can only get item pairs from a mapping.");
            }
            List<Object> out = new ArrayList<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.add(new Py.Tuple(e.getKey(), e.getValue()));
            }
            return out;
        }));
        filters.add(new Simple("trim", (v, i, a, k) -> {
            Object chars = arg(a, k, 0, "chars", null);
            return Py.strip(Py.str(orEmpty(v)), chars == null ? null : Py.str(chars), true, true);
        }));
        Impl length = (v, i, a, k) -> {
            int n = Py.len(v == null ? "" : v);
            if (n < 0) {
                throw new TemplateRuntimeError("object of type '" + Py.typeName(v) + "' has no len()");
            }
            return (long) n;
        };
        filters.add(new Simple("length", length));
        filters.add(new Simple("count", length));
        filters.add(new Simple("string", (v, i, a, k) -> v == null ? "" : Py.str(v)));
        filters.add(new Simple("list", (v, i, a, k) -> Py.iterate(v)));
        filters.add(new Simple("first", (v, i, a, k) -> {
            List<Object> items = Py.iterate(v);
            return items.isEmpty() ? null : items.get(0);
        }));
        filters.add(new Simple("last", (v, i, a, k) -> {
            List<Object> items = Py.iterate(v);
            return items.isEmpty() ? null : items.get(items.size() - 1);
        }));
        filters.add(new Simple("join", (v, i, a, k) -> {
            String sep = Py.str(orEmpty(arg(a, k, 0, "d", "")));
            Object attribute = arg(a, k, 1, "attribute", null);
            StringBuilder sb = new StringBuilder();
            boolean first = true;
            for (Object item : Py.iterate(v)) {
                if (!first) {
                    sb.append(sep);
                }
                first = false;
                Object x = attribute == null ? item : attribute(i, item, Py.str(attribute));
                sb.append(Py.str(x)); // str(None) is "None"
            }
            return sb.toString();
        }));
        Impl dflt = (v, i, a, k) -> {
            Object fallback = arg(a, k, 0, "default_value", "");
            boolean bool = Py.truthy(arg(a, k, 1, "boolean", false));
            return v == null || (bool && !Py.truthy(v)) ? fallback : v;
        };
        filters.add(new Simple("default", dflt));
        filters.add(new Simple("d", dflt));
        filters.add(new Simple("select", (v, i, a, k) -> select(v, i, a, false, false)));
        filters.add(new Simple("reject", (v, i, a, k) -> select(v, i, a, true, false)));
        filters.add(new Simple("selectattr", (v, i, a, k) -> select(v, i, a, false, true)));
        filters.add(new Simple("rejectattr", (v, i, a, k) -> select(v, i, a, true, true)));
        filters.add(new Simple("map", Jinja2Filters::map));
        filters.add(new Simple("upper", (v, i, a, k) -> Py.str(orEmpty(v)).toUpperCase(Locale.ROOT)));
        filters.add(new Simple("lower", (v, i, a, k) -> Py.str(orEmpty(v)).toLowerCase(Locale.ROOT)));
        filters.add(new Simple("title", (v, i, a, k) -> PyStrings.title(Py.str(orEmpty(v)))));
        filters.add(new Simple("capitalize", (v, i, a, k) -> PyStrings.capitalize(Py.str(orEmpty(v)))));
        filters.add(new Simple("replace", (v, i, a, k) -> {
            Object count = arg(a, k, 2, "count", null);
            return PyStrings.replace(Py.str(orEmpty(v)), Py.str(arg(a, k, 0, "old", "")),
                    Py.str(arg(a, k, 1, "new", "")), count == null ? -1 : ((Number) count).intValue());
        }));
        filters.add(new Simple("safe", (v, i, a, k) -> v));
        filters.add(new Simple("sum", (v, i, a, k) -> {
            Object attribute = arg(a, k, 0, "attribute", null);
            Object total = arg(a, k, 1, "start", 0L);
            for (Object item : Py.iterate(v)) {
                Object x = attribute == null ? item : attribute(i, item, Py.str(attribute));
                total = PyOperators.add(total, x);
            }
            return total;
        }));
        filters.add(new Simple("dictsort", (v, i, a, k) -> {
            if (!(v instanceof Map<?, ?> m)) {
                throw new TemplateRuntimeError("You can only sort by either \"key\" or \"value\"");
            }
            boolean caseSensitive = Py.truthy(arg(a, k, 0, "case_sensitive", false));
            boolean byValue = "value".equals(arg(a, k, 1, "by", "key"));
            boolean reverse = Py.truthy(arg(a, k, 2, "reverse", false));
            List<Py.Tuple> items = new ArrayList<>();
            m.forEach((key, val) -> items.add(new Py.Tuple(key, val)));
            items.sort((x, y) -> {
                Object p = x.get(byValue ? 1 : 0);
                Object q = y.get(byValue ? 1 : 0);
                if (!caseSensitive && Py.isString(p) && Py.isString(q)) {
                    p = p.toString().toLowerCase(Locale.ROOT);
                    q = q.toString().toLowerCase(Locale.ROOT);
                }
                return compare(p, q) * (reverse ? -1 : 1);
            });
            return new ArrayList<Object>(items);
        }));
        filters.add(new Simple("round", (v, i, a, k) -> {
            int precision = ((Number) arg(a, k, 0, "precision", 0L)).intValue();
            String method = Py.str(arg(a, k, 1, "method", "common"));
            java.math.RoundingMode mode = switch (method) {
                case "common" -> java.math.RoundingMode.HALF_EVEN; // Python's round(): exact binary value, ties to even
                case "ceil" -> java.math.RoundingMode.CEILING;
                case "floor" -> java.math.RoundingMode.FLOOR;
                default -> throw new TemplateRuntimeError("method must be common, ceil or floor");
            };
            double d = ((Number) (v instanceof Boolean b ? (b ? 1L : 0L) : v)).doubleValue();
            return new java.math.BigDecimal(d).setScale(precision, mode).doubleValue();
        }));
        filters.add(new Simple("min", (v, i, a, k) -> extreme(v, i, a, k, false)));
        filters.add(new Simple("max", (v, i, a, k) -> extreme(v, i, a, k, true)));
        return filters;
    }

    private static Object orEmpty(Object v) {
        return v == null ? "" : v;
    }

    /** Positional argument {@code index}, else keyword {@code name}, else {@code dflt}. */
    private static Object arg(Object[] args, Map<String, Object> kwargs, int index, String name, Object dflt) {
        if (index < args.length) {
            return args[index];
        }
        return kwargs.containsKey(name) ? kwargs.get(name) : dflt;
    }

    /** min/max(case_sensitive=False, attribute=None): strings compare case-insensitively by default. */
    private static Object extreme(Object v, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs,
            boolean max) {
        boolean caseSensitive = Py.truthy(arg(args, kwargs, 0, "case_sensitive", false));
        Object attribute = arg(args, kwargs, 1, "attribute", null);
        Object best = null;
        Object bestKey = null;
        for (Object item : Py.iterate(v)) {
            Object key = attribute == null ? item : attribute(interpreter, item, Py.str(attribute));
            if (!caseSensitive && Py.isString(key)) {
                key = key.toString().toLowerCase(Locale.ROOT);
            }
            if (best == null || compare(key, bestKey) * (max ? 1 : -1) > 0) {
                best = item;
                bestKey = key;
            }
        }
        return best;
    }

    private static int compare(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) {
            return Double.compare(x.doubleValue(), y.doubleValue());
        }
        if (Py.isString(a) && Py.isString(b)) {
            return a.toString().compareTo(b.toString());
        }
        throw new TemplateRuntimeError("'<' not supported between instances of '" + Py.typeName(a) + "' and '"
                + Py.typeName(b) + "'");
    }

    /** HF's {@code tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)}. */
    private static Object tojson(Object v, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Object ensureAscii = arg(args, kwargs, 0, "ensure_ascii", false);
        Object indent = arg(args, kwargs, 1, "indent", null);
        Object separators = arg(args, kwargs, 2, "separators", null);
        Object sortKeys = arg(args, kwargs, 3, "sort_keys", false);
        String indentText = null;
        if (indent instanceof Number n) {
            indentText = " ".repeat(Math.max(0, n.intValue()));
        } else if (Py.isString(indent)) {
            indentText = indent.toString();
        }
        String item = null;
        String key = null;
        if (separators != null) {
            List<Object> seps = Py.iterate(separators);
            if (seps.size() != 2) {
                throw new TemplateRuntimeError("tojson: separators must be an (item_separator, key_separator) pair");
            }
            item = Py.str(seps.get(0));
            key = Py.str(seps.get(1));
        }
        return new PyJson(indentText, item, key, Py.truthy(ensureAscii), Py.truthy(sortKeys)).write(v);
    }

    /** select/reject(test, args...) and selectattr/rejectattr(attr, test, args...). */
    private static Object select(Object v, JinjavaInterpreter interpreter, Object[] args, boolean reject,
            boolean byAttribute) {
        int i = 0;
        String attr = null;
        if (byAttribute) {
            if (args.length == 0) {
                throw new TemplateRuntimeError("missing attribute name for " + (reject ? "rejectattr" : "selectattr"));
            }
            attr = Py.str(args[i++]);
        }
        ExpTest test = null;
        Object[] testArgs = new Object[0];
        if (i < args.length) {
            String testName = Py.str(args[i++]);
            test = interpreter.getContext().getExpTest(testName);
            if (test == null) {
                throw new TemplateRuntimeError("No test named '" + testName + "'");
            }
            testArgs = Arrays.copyOfRange(args, i, args.length);
        }
        List<Object> out = new ArrayList<>();
        for (Object item : Py.iterate(v)) {
            Object x = attr == null ? item : attribute(interpreter, item, attr);
            boolean ok = test == null ? Py.truthy(x) : test.evaluate(x, interpreter, testArgs);
            if (ok != reject) {
                out.add(item);
            }
        }
        return out;
    }

    /** map(filter_name, args...) or map(attribute='name', default=...). */
    private static Object map(Object v, JinjavaInterpreter interpreter, Object[] args, Map<String, Object> kwargs) {
        Function<Object, Object> fn;
        if (kwargs.containsKey("attribute")) {
            String attr = Py.str(kwargs.get("attribute"));
            Object dflt = kwargs.get("default");
            fn = item -> {
                Object x = attribute(interpreter, item, attr);
                return x == null ? dflt : x;
            };
        } else {
            if (args.length == 0) {
                throw new TemplateRuntimeError("map requires a filter name or attribute=");
            }
            String filterName = Py.str(args[0]);
            Filter filter = interpreter.getContext().getFilter(filterName);
            if (filter == null) {
                throw new TemplateRuntimeError("No filter named '" + filterName + "'");
            }
            Object[] rest = Arrays.copyOfRange(args, 1, args.length);
            fn = item -> filter.filter(item, interpreter, rest, Map.of());
        }
        List<Object> out = new ArrayList<>();
        for (Object item : Py.iterate(v)) {
            out.add(fn.apply(item));
        }
        return out;
    }

    /** Jinja2's environment.getitem/getattr with dotted paths ("a.b", "0.name") as the attribute filters use. */
    static Object attribute(JinjavaInterpreter interpreter, Object item, String path) {
        Object x = item;
        for (String part : path.split("\\.")) {
            if (x == null) {
                return null;
            }
            x = PyResolver.item(x, part);
        }
        return x;
    }
}

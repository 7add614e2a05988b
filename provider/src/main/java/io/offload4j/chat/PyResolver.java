package io.offload4j.chat;

import com.hubspot.jinjava.el.ext.NamedParameter;
import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;
import jinjava.javax.el.PropertyNotWritableException;

/**
 * Attribute access, subscripts and method calls on template values with Python semantics, in place of Jinjava's
 * Java-bean resolution (which would expose {@code String.toUpperCase()} but not {@code str.upper()}, split with
 * regexes and drop trailing empty strings, and let templates call arbitrary public Java methods).
 *
 * <p>Handles dicts ({@code d.key}, {@code d['key']}, {@code items() keys() values() get() copy()}), lists
 * ({@code l[0]}, {@code l[-1]}, {@code index() count() copy()}), strings ({@code s[0]} and the common
 * {@code str} methods) and the loop object. Methods that mutate a dict or list raise an error, as in Hugging
 * Face's {@code ImmutableSandboxedEnvironment}. Anything else (Jinjava's filters, tests and macros) is left to the
 * resolvers after this one.
 */
final class PyResolver extends ELResolver {

    private static final Set<String> MUTATING_DICT = Set.of("clear", "pop", "popitem", "setdefault", "update");
    private static final Set<String> MUTATING_LIST =
            Set.of("append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear");

    private static boolean isPythonValue(Object base) {
        return base instanceof Map<?, ?> || base instanceof List<?> || Py.isString(base) || base instanceof Number
                || base instanceof Boolean || base instanceof LoopContext || base.getClass().isArray();
    }

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        if (base == null || !isPythonValue(base)) {
            return null;
        }
        context.setPropertyResolved(true);
        return item(base, property);
    }

    /** {@code base.property} / {@code base[property]} for a dict, list, str or loop; null when undefined. */
    static Object item(Object base, Object property) {
        if (base == null || !isPythonValue(base)) {
            return null;
        }
        String key = property == null ? "None" : property.toString();
        if (base instanceof LoopContext loop) {
            return loop.attribute(key);
        }
        if (base instanceof Map<?, ?> map) {
            return lookup(map, property, key);
        }
        if (base instanceof List<?> || base.getClass().isArray() || Py.isString(base)) {
            Integer index = parseIndex(property);
            if (index == null) {
                return null; // attribute of a list or str that is not a method: undefined
            }
            if (Py.isString(base)) {
                String s = base.toString();
                int[] cps = s.codePoints().toArray();
                int i = index < 0 ? index + cps.length : index;
                return i >= 0 && i < cps.length ? new String(Character.toChars(cps[i])) : null;
            }
            List<Object> list = Py.iterate(base);
            int i = index < 0 ? index + list.size() : index;
            return i >= 0 && i < list.size() ? list.get(i) : null;
        }
        return null;
    }

    private static Object lookup(Map<?, ?> map, Object property, String key) {
        if (map.containsKey(key)) {
            return map.get(key);
        }
        if (property != null && !(property instanceof String) && map.containsKey(property)) {
            return map.get(property);
        }
        // a dict literal with number keys ({1: 'a'}[1]): the property arrives as a string
        Integer index = parseIndex(key);
        if (index != null) {
            for (Map.Entry<?, ?> e : map.entrySet()) {
                if (e.getKey() instanceof Number n && !(e.getKey() instanceof Double) && n.longValue() == index) {
                    return e.getValue();
                }
            }
        }
        return null;
    }

    private static Integer parseIndex(Object property) {
        if (property instanceof Number n && !(property instanceof Double) && !(property instanceof Float)) {
            return n.intValue();
        }
        if (property instanceof String s && s.matches("-?\\d{1,9}")) {
            return Integer.parseInt(s);
        }
        return null;
    }

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (base == null || method == null || !isPythonValue(base)) {
            return null;
        }
        String name = method.toString();
        List<Object> args = new ArrayList<>();
        if (params != null) {
            for (Object p : params) {
                args.add(p instanceof NamedParameter np ? np.getValue() : p);
            }
        }
        Object result;
        if (base instanceof LoopContext loop) {
            result = switch (name) {
                case "cycle" -> loop.cycle(args.toArray());
                case "changed" -> loop.changed(args.toArray());
                default -> throw noAttribute("LoopContext", name);
            };
        } else if (base instanceof Map<?, ?> map) {
            result = dictMethod(map, name, args);
        } else if (base instanceof List<?> || base.getClass().isArray()) {
            result = listMethod(Py.iterate(base), name, args);
        } else if (Py.isString(base)) {
            result = PyStrings.call(base.toString(), name, args);
        } else {
            throw noAttribute(Py.typeName(base), name);
        }
        context.setPropertyResolved(true);
        return result;
    }

    private static Object dictMethod(Map<?, ?> map, String name, List<Object> args) {
        switch (name) {
            case "items" -> {
                List<Object> out = new ArrayList<>();
                for (Map.Entry<?, ?> e : map.entrySet()) {
                    out.add(new Py.Tuple(e.getKey(), e.getValue()));
                }
                return out;
            }
            case "keys" -> {
                return new ArrayList<Object>(map.keySet());
            }
            case "values" -> {
                return new ArrayList<Object>(map.values());
            }
            case "get" -> {
                PyStrings.arity("get", args, 1, 2);
                Object key = args.get(0);
                Object v = lookup(map, key, key == null ? "None" : key.toString());
                return v != null || map.containsKey(key) ? v : (args.size() > 1 ? args.get(1) : null);
            }
            case "copy" -> {
                return new java.util.LinkedHashMap<>(map);
            }
            default -> {
                if (MUTATING_DICT.contains(name)) {
                    throw unsafe("dict", name);
                }
                throw noAttribute("dict", name);
            }
        }
    }

    private static Object listMethod(List<Object> list, String name, List<Object> args) {
        switch (name) {
            case "index" -> {
                PyStrings.arity("index", args, 1, 1);
                for (int i = 0; i < list.size(); i++) {
                    if (Py.equal(list.get(i), args.get(0))) {
                        return (long) i;
                    }
                }
                throw new TemplateRuntimeError(Py.repr(args.get(0)) + " is not in list");
            }
            case "count" -> {
                PyStrings.arity("count", args, 1, 1);
                long n = 0;
                for (Iterator<Object> it = list.iterator(); it.hasNext(); ) {
                    if (Py.equal(it.next(), args.get(0))) {
                        n++;
                    }
                }
                return n;
            }
            case "copy" -> {
                return new ArrayList<>(list);
            }
            default -> {
                if (MUTATING_LIST.contains(name)) {
                    throw unsafe("list", name);
                }
                throw noAttribute("list", name);
            }
        }
    }

    static TemplateRuntimeError noAttribute(String type, String name) {
        return new TemplateRuntimeError("'" + type + " object' has no attribute '" + name + "'"); // Jinja2's wording
    }

    private static TemplateRuntimeError unsafe(String type, String name) {
        return new TemplateRuntimeError("access to attribute '" + name + "' of '" + type
                + "' object is unsafe (templates run in an immutable sandbox, as in Hugging Face transformers)");
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        if (base != null && isPythonValue(base)) {
            context.setPropertyResolved(true);
            return Object.class;
        }
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
        if (base != null && isPythonValue(base)) {
            throw new PropertyNotWritableException("template values are read-only");
        }
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        if (base != null && isPythonValue(base)) {
            context.setPropertyResolved(true);
            return true;
        }
        return false;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return base != null && isPythonValue(base) ? Object.class : null;
    }
}

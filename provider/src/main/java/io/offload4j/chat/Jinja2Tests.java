package io.offload4j.chat;

import com.hubspot.jinjava.el.ext.AbstractCallableMethod;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.lib.exptest.ExpTest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.BiPredicate;

/**
 * Jinja2's {@code is} tests where Jinjava's differ: a string {@code is iterable} and {@code is sequence} (Jinjava:
 * no), {@code number}/{@code integer}/{@code float}/{@code boolean} by Python type, equality by Python rules
 * ({@code 1 == 1.0}), {@code sameas}, {@code in}, {@code callable}.
 */
final class Jinja2Tests {

    private Jinja2Tests() {}

    private record Test(String name, BiPredicate<Object, Object[]> predicate) implements ExpTest {
        @Override
        public String getName() {
            return name;
        }

        @Override
        public boolean evaluate(Object var, JinjavaInterpreter interpreter, Object... args) {
            return predicate.test(var, args == null ? new Object[0] : args);
        }
    }

    private static Object arg(Object[] args, String test) {
        if (args.length < 1) {
            throw new TemplateRuntimeError("test '" + test + "' needs an argument");
        }
        return args[0];
    }

    static List<ExpTest> all() {
        List<ExpTest> tests = new ArrayList<>();
        tests.add(new Test("defined", (v, a) -> v != null));
        tests.add(new Test("undefined", (v, a) -> v == null));
        tests.add(new Test("none", (v, a) -> v == null));
        tests.add(new Test("string", (v, a) -> Py.isString(v)));
        tests.add(new Test("mapping", (v, a) -> v instanceof Map<?, ?>));
        tests.add(new Test("iterable", (v, a) -> Py.isIterable(v)));
        tests.add(new Test("sequence", (v, a) -> Py.isIterable(v) && Py.len(v) >= 0));
        tests.add(new Test("number", (v, a) -> v instanceof Number || v instanceof Boolean));
        tests.add(new Test("integer", (v, a) -> Py.isInteger(v)));
        tests.add(new Test("float", (v, a) -> v instanceof Double || v instanceof Float
                || v instanceof java.math.BigDecimal));
        tests.add(new Test("boolean", (v, a) -> v instanceof Boolean));
        tests.add(new Test("true", (v, a) -> Boolean.TRUE.equals(v)));
        tests.add(new Test("false", (v, a) -> Boolean.FALSE.equals(v)));
        tests.add(new Test("callable", (v, a) -> v instanceof AbstractCallableMethod || v instanceof GlobalFunction));
        tests.add(new Test("sameas", (v, a) -> {
            Object o = arg(a, "sameas");
            return v == o || (v instanceof Boolean && v.equals(o)) || (v == null && o == null);
        }));
        for (String eq : List.of("eq", "equalto", "==")) {
            tests.add(new Test(eq, (v, a) -> Py.equal(v, arg(a, eq))));
        }
        for (String ne : List.of("ne", "!=")) {
            tests.add(new Test(ne, (v, a) -> !Py.equal(v, arg(a, ne))));
        }
        tests.add(new Test("in", (v, a) -> {
            Object container = arg(a, "in");
            if (Py.isString(container)) {
                return Py.isString(v) && container.toString().contains(v.toString());
            }
            if (container instanceof Map<?, ?> m) {
                return m.containsKey(v) || (v != null && m.containsKey(v.toString()));
            }
            for (Object item : Py.iterate(container)) {
                if (Py.equal(item, v)) {
                    return true;
                }
            }
            return false;
        }));
        tests.add(new Test("lower", (v, a) -> Py.isString(v) && v.toString().equals(v.toString().toLowerCase())));
        tests.add(new Test("upper", (v, a) -> Py.isString(v) && v.toString().equals(v.toString().toUpperCase())));
        return tests;
    }

    /** Marker bound to the names of global functions so that {@code strftime_now is defined} holds, as in Jinja2. */
    record GlobalFunction(String name) {
        @Override
        public String toString() {
            return "<built-in function " + name + ">";
        }
    }
}

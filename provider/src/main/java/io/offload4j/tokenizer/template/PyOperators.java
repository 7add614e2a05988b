package io.offload4j.tokenizer.template;

import java.util.ArrayList;
import java.util.List;
import jinjava.de.odysseus.el.misc.NumberOperations;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;

/**
 * Python's {@code +}, {@code *}, {@code ==} and {@code !=} for template expressions. JUEL's versions coerce
 * ({@code 'a' + none} gives "anull", {@code '1' == 1} is true, {@code [1] + 'x'} appends); Python concatenates only
 * str with str and list with list, repeats sequences with {@code *}, never converts for {@code ==}, and raises a
 * TypeError otherwise, which templates rely on to reject input (e.g. a None content).
 */
final class PyOperators {

    private PyOperators() {}

    private static boolean isNumber(Object o) {
        return o instanceof Number || o instanceof Boolean;
    }

    private static Object number(Object o) {
        return o instanceof Boolean b ? (b ? 1L : 0L) : o;
    }

    private static String quotedType(Object o) {
        return "\"" + Py.typeName(o) + "\"";
    }

    static final AstBinary.Operator ADD = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            if (Py.isString(a) && Py.isString(b)) {
                return a.toString() + b;
            }
            if (a instanceof List<?> x && b instanceof List<?> y) {
                List<Object> out = new ArrayList<>(x);
                out.addAll(y);
                return out;
            }
            if (isNumber(a) && isNumber(b)) {
                return NumberOperations.add(converter, number(a), number(b));
            }
            if (Py.isString(a) || a instanceof List<?>) {
                throw new TemplateRuntimeError("can only concatenate " + Py.typeName(a) + " (not " + quotedType(b)
                        + ") to " + Py.typeName(a));
            }
            throw new TemplateRuntimeError("unsupported operand type(s) for +: '" + Py.typeName(a) + "' and '"
                    + Py.typeName(b) + "'");
        }

        @Override
        public String toString() {
            return "+";
        }
    };

    static final AstBinary.Operator MUL = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            if (isNumber(a) && isNumber(b)) {
                return NumberOperations.mul(converter, number(a), number(b));
            }
            Object seq = isNumber(a) ? b : a;
            Object times = isNumber(a) ? a : b;
            if ((Py.isString(seq) || seq instanceof List<?>) && Py.isInteger(number(times))) {
                long n = Math.max(0, ((Number) number(times)).longValue());
                if (Py.isString(seq)) {
                    return seq.toString().repeat((int) Math.min(n, Integer.MAX_VALUE));
                }
                List<Object> out = new ArrayList<>();
                for (long i = 0; i < n; i++) {
                    out.addAll((List<?>) seq);
                }
                return out;
            }
            if (Py.isString(seq) || seq instanceof List<?>) {
                throw new TemplateRuntimeError("can't multiply sequence by non-int of type '" + Py.typeName(times)
                        + "'");
            }
            throw new TemplateRuntimeError("unsupported operand type(s) for *: '" + Py.typeName(a) + "' and '"
                    + Py.typeName(b) + "'");
        }

        @Override
        public String toString() {
            return "*";
        }
    };

    static final AstBinary.Operator EQ = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            return Py.equal(a, b);
        }

        @Override
        public String toString() {
            return "==";
        }
    };

    static final AstBinary.Operator NE = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            return !Py.equal(a, b);
        }

        @Override
        public String toString() {
            return "!=";
        }
    };
}

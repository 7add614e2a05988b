package io.offload4j.chat;

import java.util.ArrayList;
import java.util.List;
import jinjava.de.odysseus.el.misc.NumberOperations;
import jinjava.de.odysseus.el.misc.TypeConverter;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.javax.el.ELContext;

/**
 * Python's {@code +}, {@code *}, {@code %}, {@code ==}, {@code !=}, {@code and}, {@code or} for template
 * expressions. JUEL's versions coerce
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

    /** Python's a + b (for filters such as sum). */
    static Object add(Object a, Object b) {
        return add(TypeConverter.DEFAULT, a, b);
    }

    private static Object add(TypeConverter converter, Object a, Object b) {
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

    static final AstBinary.Operator ADD = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            return add(converter, a, b);
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
                if (n * Math.max(1, Py.len(seq)) > JinjaEnvironment.MAX_OUTPUT_CHARS) {
                    throw new TemplateRuntimeError("sequence repetition too large (" + n + " times)");
                }
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

    /** {@code a and b}: a if a is falsy, else b (the operand, not a boolean); b is evaluated only if needed. */
    static final AstBinary.Operator AND = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object a = left.eval(bindings, context);
            return Py.truthy(a) ? right.eval(bindings, context) : a;
        }

        @Override
        public String toString() {
            return "and";
        }
    };

    /** {@code a or b}: a if a is truthy, else b. */
    static final AstBinary.Operator OR = new AstBinary.Operator() {
        @Override
        public Object eval(Bindings bindings, ELContext context, AstNode left, AstNode right) {
            Object a = left.eval(bindings, context);
            return Py.truthy(a) ? a : right.eval(bindings, context);
        }

        @Override
        public String toString() {
            return "or";
        }
    };

    /** {@code a % b} with Python's sign rule (the result has the divisor's sign: {@code -7 % 3 == 2}). */
    static final AstBinary.Operator MOD = new AstBinary.SimpleOperator() {
        @Override
        protected Object apply(TypeConverter converter, Object a, Object b) {
            if (!isNumber(a) || !isNumber(b)) {
                throw new TemplateRuntimeError("unsupported operand type(s) for %: '" + Py.typeName(a) + "' and '"
                        + Py.typeName(b) + "'");
            }
            Number x = (Number) number(a);
            Number y = (Number) number(b);
            if (Py.isInteger(x) && Py.isInteger(y)) {
                if (y.longValue() == 0) {
                    throw new TemplateRuntimeError("integer modulo by zero");
                }
                return Math.floorMod(x.longValue(), y.longValue());
            }
            double d = y.doubleValue();
            if (d == 0) {
                throw new TemplateRuntimeError("float modulo");
            }
            double r = x.doubleValue() % d;
            return r != 0 && (r < 0) != (d < 0) ? r + d : r;
        }

        @Override
        public String toString() {
            return "%";
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

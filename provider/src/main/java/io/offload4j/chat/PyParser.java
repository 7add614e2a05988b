package io.offload4j.chat;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import java.util.ArrayList;
import java.util.List;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.ast.AstBinary;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstDot;
import com.hubspot.jinjava.el.ext.AdditionOperator;
import com.hubspot.jinjava.el.ext.AstNamedParameter;
import com.hubspot.jinjava.el.ext.OrOperator;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstParameters;
import jinjava.de.odysseus.el.tree.impl.ast.AstProperty;
import jinjava.de.odysseus.el.tree.impl.ast.AstRightValue;
import jinjava.javax.el.ELContext;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;

/**
 * Jinjava's expression parser with Jinja2's grammar where they differ:
 * <ul>
 *   <li>{@code not} binds more loosely than comparisons, as in Jinja2 ({@code not x|length == 1} is
 *       {@code not (x|length == 1)}); in JUEL it binds tightest ({@code (not x|length) == 1}, a type error).</li>
 *   <li>Slices take a step ({@code messages[::-1]}, used by Qwen 3's template) and follow Python's rules for
 *       out-of-range and negative bounds.</li>
 *   <li>Filters and tests chain in any order after a value ({@code x|length is odd}).</li>
 *   <li>A keyword argument's value is a whole expression ({@code namespace(i=messages|length - 1)}).</li>
 *   <li>{@code +}, {@code *}, {@code %}, {@code ==}, {@code !=}, {@code and}, {@code or} follow Python
 *       ({@link PyOperators}).</li>
 * </ul>
 * The rest (operators, literals, filter calls as {@code filter:name.filter(...)}) is Jinjava's; this parser always
 * uses Jinjava's "legacy" precedence in which filters bind to the value before any operator, as in Jinja2.
 */
final class PyParser extends ExtendedParser {

    PyParser(Builder context, String input) {
        super(context, input);
    }

    /** Python's +, *, %, ==, !=, and, or (see {@link PyOperators}) in place of JUEL's. */
    @Override
    protected AstBinary createAstBinary(AstNode left, AstNode right, AstBinary.Operator operator) {
        AstBinary.Operator op = operator;
        if (operator == AdditionOperator.OP) {
            op = PyOperators.ADD;
        } else if (operator == AstBinary.MUL) {
            op = PyOperators.MUL;
        } else if (operator == AstBinary.EQ) {
            op = PyOperators.EQ;
        } else if (operator == AstBinary.NE) {
            op = PyOperators.NE;
        } else if (operator == AstBinary.MOD) {
            op = PyOperators.MOD;
        } else if (operator == AstBinary.AND) {
            op = PyOperators.AND;
        } else if (operator == OrOperator.OP || operator == AstBinary.OR) {
            op = PyOperators.OR;
        }
        return super.createAstBinary(left, right, op);
    }

    @Override
    protected AstNode unary(boolean required) throws Scanner.ScanException, Parser.ParseException {
        if (getToken().getSymbol() == Scanner.Symbol.NOT) {
            consumeToken();
            return createAstUnary(eq(true), AstUnary.NOT);
        }
        return super.unary(required);
    }

    @Override
    protected AstNode value() throws Scanner.ScanException, Parser.ParseException {
        boolean lvalue = true;
        AstNode v = nonliteral();
        if (v == null) {
            v = literal();
            if (v == null) {
                return null;
            }
            lvalue = false;
        }
        while (true) {
            switch (getToken().getSymbol()) {
                case DOT -> {
                    consumeToken();
                    String name = consumeToken(Scanner.Symbol.IDENTIFIER).getImage();
                    if (getToken().getSymbol() == Scanner.Symbol.LPAREN && methodCalls()) {
                        // calling a method of None/undefined is an error in Jinja2; JUEL quietly yields null
                        v = createAstMethod(createAstDot(new MethodTarget(v, "'None' has no attribute '" + name + "'"),
                                name, lvalue), params());
                    } else {
                        v = createAstDot(v, name, lvalue);
                    }
                }
                case LBRACK -> {
                    consumeToken();
                    AstNode start = expr(false);
                    Scanner.Token next = consumeToken();
                    if (next.getSymbol() == Scanner.Symbol.COLON) {
                        AstNode stop = expr(false);
                        AstNode step = null;
                        if (getToken().getSymbol() == Scanner.Symbol.COLON) {
                            consumeToken();
                            step = expr(false);
                        }
                        consumeToken(Scanner.Symbol.RBRACK);
                        v = new PySlice(v, start, stop, step);
                    } else if (next.getSymbol() == Scanner.Symbol.RBRACK) {
                        AstBracket bracket = createAstBracket(v, start, lvalue,
                                !context.isEnabled(Builder.Feature.NULL_PROPERTIES));
                        v = getToken().getSymbol() == Scanner.Symbol.LPAREN && methodCalls()
                                ? createAstMethod(bracket, params()) : bracket;
                    } else {
                        fail(Scanner.Symbol.RBRACK);
                    }
                }
                default -> {
                    return filtersAndTests(v);
                }
            }
        }
    }

    /**
     * Call arguments, with keyword arguments whose value is a whole expression ({@code f(n=x|length - 1)}); Jinjava
     * parses "=" as an additive operator, giving {@code (n=x|length) - 1}. A trailing comma is allowed.
     */
    @Override
    protected AstParameters params(Scanner.Symbol left, Scanner.Symbol right)
            throws Scanner.ScanException, Parser.ParseException {
        consumeToken(left);
        List<AstNode> args = new ArrayList<>();
        AstNode v = argument(false);
        if (v != null) {
            args.add(v);
            while (getToken().getSymbol() == Scanner.Symbol.COMMA) {
                consumeToken();
                AstNode next = argument(false);
                if (next == null) {
                    break;
                }
                args.add(next);
            }
        }
        consumeToken(right);
        return createAstParameters(args);
    }

    private AstNode argument(boolean required) throws Scanner.ScanException, Parser.ParseException {
        if (getToken().getSymbol() == Scanner.Symbol.IDENTIFIER
                && lookahead(0).getSymbol() == Scanner.Symbol.EXTENSION && "=".equals(lookahead(0).getImage())) {
            String name = consumeToken().getImage();
            consumeToken(); // '='
            return new AstNamedParameter(identifier(name), expr(true));
        }
        return expr(required);
    }

    private boolean methodCalls() {
        return context.isEnabled(Builder.Feature.METHOD_INVOCATIONS);
    }

    /**
     * {@code v|f1(args)|f2 ...} as {@code filter:f1.filter(v, interpreter, args...)} calls, like Jinjava, except
     * that a filter unknown at run time raises "No filter named ..." (Jinja2 defers that check to run time inside
     * if blocks; Jinjava would quietly produce null).
     */
    @Override
    protected AstNode parseFiltersAsNestedMethods(AstNode left) throws Scanner.ScanException, Parser.ParseException {
        AstNode v = left;
        do {
            consumeToken(); // '|'
            String filterName = consumeToken().getImage();
            List<AstNode> filterParams = new ArrayList<>();
            filterParams.add(v);
            filterParams.add(interpreter());
            if (getToken().getSymbol() == Scanner.Symbol.LPAREN) {
                AstParameters p = params();
                for (int i = 0; i < p.getCardinality(); i++) {
                    filterParams.add(p.getChild(i));
                }
            }
            AstNode filter = new MethodTarget(identifier(FILTER_PREFIX + filterName),
                    "No filter named '" + filterName + "'.");
            v = createAstMethod(createAstDot(filter, "filter", true), createAstParameters(filterParams));
        } while ("|".equals(getToken().getImage()));
        return v;
    }

    /** {@code |filter(args)} and {@code is [not] test [arg]} after a value, any number, in any order. */
    private AstNode filtersAndTests(AstNode left) throws Scanner.ScanException, Parser.ParseException {
        AstNode v = left;
        while (true) {
            if ("|".equals(getToken().getImage()) && lookahead(0).getSymbol() == Scanner.Symbol.IDENTIFIER) {
                v = parseFiltersAsNestedMethods(v);
            } else if ("is".equals(getToken().getImage()) && "not".equals(lookahead(0).getImage())
                    && isTestName(lookahead(1).getSymbol())) {
                consumeToken(); // is
                consumeToken(); // not
                v = test(v, "evaluateNegated");
            } else if ("is".equals(getToken().getImage()) && isTestName(lookahead(0).getSymbol())) {
                consumeToken(); // is
                v = test(v, "evaluate");
            } else {
                return v;
            }
        }
    }

    private static boolean isTestName(Scanner.Symbol s) {
        return switch (s) {
            case IDENTIFIER, EQ, NE, LT, LE, GT, GE, TRUE, FALSE, EXTENSION -> true;
            default -> false;
        };
    }

    /** {@code exptest:name.evaluate(value, interpreter[, arg])}, the call Jinjava makes for a test. */
    private AstNode test(AstNode value, String method) throws Scanner.ScanException, Parser.ParseException {
        Scanner.Token nameToken = consumeToken();
        if (nameToken.getSymbol() == Scanner.Symbol.EXTENSION && !"in".equals(nameToken.getImage())) {
            fail("a test name");
        }
        List<AstNode> params = new ArrayList<>();
        params.add(value);
        params.add(interpreter());
        AstNode arg = value();
        if (arg != null) {
            params.add(arg);
        }
        AstNode test = new MethodTarget(identifier(EXPTEST_PREFIX + nameToken.getImage()),
                "No test named '" + nameToken.getImage() + "'.");
        AstProperty property = createAstDot(test, method, true);
        return createAstMethod(property, createAstParameters(params));
    }

    /**
     * The object a method is called on (a value, or the filter/test a pipe or "is" calls); when it is None or
     * undefined the call fails with Jinja2's message instead of JUEL's silent null.
     */
    static final class MethodTarget extends AstRightValue {
        private final AstNode target;
        private final String errorWhenNull;

        MethodTarget(AstNode target, String errorWhenNull) {
            this.target = target;
            this.errorWhenNull = errorWhenNull;
        }

        @Override
        public Object eval(Bindings bindings, ELContext context) {
            Object value = target.eval(bindings, context);
            if (value == null) {
                throw new TemplateRuntimeError(errorWhenNull);
            }
            return value;
        }

        @Override
        public void appendStructure(StringBuilder b, Bindings bindings) {
            target.appendStructure(b, bindings);
        }

        @Override
        public int getCardinality() {
            return 1;
        }

        @Override
        public AstNode getChild(int i) {
            return i == 0 ? target : null;
        }

        @Override
        public String toString() {
            return target.toString();
        }
    }

    /** The tree builder the expression factory instantiates (by class name) to get this parser. */
    public static final class TreeBuilder extends ExtendedSyntaxBuilder {
        private static final long serialVersionUID = 1L;

        /** The features Jinjava's default factory enables (JUEL's JEE6 profile). */
        static final Builder.Feature[] FEATURES = {Builder.Feature.METHOD_INVOCATIONS, Builder.Feature.VARARGS};

        public TreeBuilder() {
            super(FEATURES);
        }

        public TreeBuilder(Builder.Feature... features) {
            super(features);
        }

        @Override
        protected Parser createParser(String expression) {
            return new PyParser(this, expression);
        }
    }
}

package io.offload4j.tokenizer.template;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import java.util.ArrayList;
import java.util.List;
import jinjava.de.odysseus.el.tree.impl.ast.AstBracket;
import jinjava.de.odysseus.el.tree.impl.ast.AstDot;
import com.hubspot.jinjava.el.ext.AstNamedParameter;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstParameters;
import jinjava.de.odysseus.el.tree.impl.ast.AstProperty;
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
 * </ul>
 * The rest (operators, literals, filter calls as {@code filter:name.filter(...)}) is Jinjava's; this parser always
 * uses Jinjava's "legacy" precedence in which filters bind to the value before any operator, as in Jinja2.
 */
final class PyParser extends ExtendedParser {

    PyParser(Builder context, String input) {
        super(context, input);
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
                    AstDot dot = createAstDot(v, name, lvalue);
                    v = getToken().getSymbol() == Scanner.Symbol.LPAREN && methodCalls() ? createAstMethod(dot, params())
                            : dot;
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
        AstProperty property = createAstDot(identifier(EXPTEST_PREFIX + nameToken.getImage()), method, true);
        return createAstMethod(property, createAstParameters(params));
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

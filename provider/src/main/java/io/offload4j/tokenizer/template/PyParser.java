package io.offload4j.tokenizer.template;

import com.hubspot.jinjava.el.ExtendedSyntaxBuilder;
import com.hubspot.jinjava.el.ext.ExtendedParser;
import jinjava.de.odysseus.el.tree.impl.Builder;
import jinjava.de.odysseus.el.tree.impl.Parser;
import jinjava.de.odysseus.el.tree.impl.Scanner;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstUnary;

/**
 * Jinjava's expression parser with Jinja2's precedence for {@code not}: in Jinja2 {@code not} binds more loosely
 * than comparisons ({@code not x|length == 1} is {@code not (x|length == 1)}), in JUEL it is a unary operator that
 * binds tightest ({@code (not x|length) == 1}, a type error).
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

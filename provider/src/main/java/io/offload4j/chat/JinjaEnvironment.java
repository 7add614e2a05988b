package io.offload4j.chat;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import com.hubspot.jinjava.el.JinjavaObjectUnwrapper;
import com.hubspot.jinjava.el.TruthyTypeConverter;
import com.google.common.collect.SetMultimap;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.Context.Library;
import com.hubspot.jinjava.interpret.ContextConfigurationIF.ErrorHandlingStrategyIF.TemplateErrorTypeHandlingStrategy;
import com.hubspot.jinjava.interpret.ErrorHandlingStrategy;
import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.NullValue;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.expression.ExpressionStrategy;
import com.hubspot.jinjava.tree.ExpressionNode;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.output.RenderedOutputNode;
import com.hubspot.jinjava.tree.parse.ExpressionToken;
import io.offload4j.chat.Jinja2Functions.RenderState;
import io.offload4j.chat.Jinja2Lexer.Translation;
import java.time.Clock;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import jinjava.de.odysseus.el.ExpressionFactoryImpl;
import jinjava.de.odysseus.el.tree.IdentifierNode;
import jinjava.de.odysseus.el.tree.Tree;
import jinjava.de.odysseus.el.tree.TreeBuilder;
import jinjava.de.odysseus.el.tree.TreeBuilderException;
import jinjava.de.odysseus.el.tree.impl.ast.AstChoice;
import jinjava.javax.el.CompositeELResolver;
import jinjava.javax.el.ExpressionFactory;

/**
 * The one Jinjava instance, configured to behave like Hugging Face's Jinja2 environment, and the compile/render
 * steps around it. Immutable after construction; renders run concurrently (all per-render state is in the
 * interpreter and the thread-bound {@link RenderState}).
 */
final class JinjaEnvironment {

    static final JinjaEnvironment INSTANCE = new JinjaEnvironment();

    private static final ObjectMapper MAPPER = new ObjectMapper();

    /** Far above any prompt (a million-token context is a few MB of text). */
    static final long MAX_OUTPUT_CHARS = 256L * 1024 * 1024;

    private final Jinjava jinjava;
    private final JinjavaConfig config;
    private final Context base;

    /**
     * The parent of every render's context: all tags, filters, tests and functions, built once. Jinjava would copy
     * its global context for each render (instantiating every built-in filter again) because a context records
     * what its children resolved; this one ignores those records, so it is never written after construction and
     * can be shared by concurrent renders.
     */
    private static final class SharedBaseContext extends Context {
        SharedBaseContext(Context global, Map<Library, Set<String>> disabled) {
            super(null, null, disabled);
            global.getAllExpTests().forEach(this::registerExpTest);
            global.getAllFilters().forEach(this::registerFilter);
            global.getAllFunctions().forEach(this::registerFunction);
            global.getAllTags().forEach(this::registerTag);
        }

        @Override
        public void addResolvedExpression(String expression) {}

        @Override
        public void addResolvedValue(String value) {}

        @Override
        public void addResolvedFunction(String function) {}

        @Override
        public void addDependency(String type, String identification) {}

        @Override
        public void addDependencies(SetMultimap<String, String> dependencies) {}
    }

    /** Jinjava whose expression factory coerces to boolean with Python truthiness (for not/and/or). */
    private static final class PyJinjava extends Jinjava {
        private final ExpressionFactory factory;

        PyJinjava(JinjavaConfig config) {
            super(config);
            Properties props = new Properties();
            props.setProperty(TreeBuilder.class.getName(), PyParser.TreeBuilder.class.getName());
            this.factory = new ExpressionFactoryImpl(props, new PyTypeConverter());
        }

        @Override
        public ExpressionFactory getExpressionFactory() {
            return factory;
        }
    }

    private static final class PyTypeConverter extends TruthyTypeConverter {
        private static final long serialVersionUID = 1L;

        @Override
        protected Boolean coerceToBoolean(Object value) {
            return Py.truthy(value);
        }

        /** Used by "~": Python's str() of each side ("True", "[1, 2]"); undefined/None give "". */
        @Override
        protected String coerceToString(Object value) {
            return value == null ? "" : Py.str(value);
        }
    }

    /** {{ expr }} prints Python's str() of the value; undefined/None print nothing. */
    private static final class PyExpressionStrategy implements ExpressionStrategy {
        private static final long serialVersionUID = 1L;

        @Override
        public RenderedOutputNode interpretOutput(ExpressionToken master, JinjavaInterpreter interpreter) {
            Object value = interpreter.resolveELExpression(master.getExpr(), master.getLineNumber());
            return new RenderedOutputNode(value == null ? "" : Py.str(value));
        }
    }

    private JinjaEnvironment() {
        LegacyOverrides overrides = LegacyOverrides.newBuilder()
                .withEvaluateMapKeys(true) // {key: 1} uses the variable key, as in Python
                .withIterateOverMapKeys(true)
                .withKeepNullableLoopValues(true)
                .withHandleBackslashInQuotesOnly(true)
                .withParseWhitespaceControlStrictly(true)
                .withAllowAdjacentTextNodes(true)
                .withUseNaturalOperatorPrecedence(false) // keeps "not x is defined" as not (x is defined)
                .withWhitespaceRequiredWithinTokens(false)
                .build();
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PyResolver());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        JinjavaObjectUnwrapper unwrapper = new JinjavaObjectUnwrapper();
        this.config = JinjavaConfig.newBuilder()
                .withTrimBlocks(false) // whitespace control is applied by Jinja2Lexer
                .withLstripBlocks(false)
                .withKeepTrailingNewline(true)
                .withNestedInterpretationEnabled(false) // never re-render text that contains "{{"
                .withMaxOutputSize(MAX_OUTPUT_CHARS) // a runaway template fails instead of exhausting memory
                .withRangeLimit(1_000_000) // Jinjava's default silently cuts range() at 1000 items
                .withEnableRecursiveMacroCalls(true)
                .withMaxMacroRecursionDepth(200)
                .withFailOnUnknownTokens(false)
                .withLegacyOverrides(overrides)
                .withElResolver(resolver)
                .withObjectUnwrapper(o -> o == NullValue.INSTANCE ? null : unwrapper.unwrapObject(o))
                // HF renders from a string with no loader: templates cannot read other templates or resources
                .withDisabled(Map.of(Library.TAG, Set.of("include", "import", "from", "extends")))
                .build();
        this.jinjava = new PyJinjava(config);
        this.jinjava.setResourceLocator((name, encoding, interpreter) -> {
            throw new com.hubspot.jinjava.loader.ResourceNotFoundException(
                    "chat templates cannot load other templates ('" + name + "')");
        });
        Jinja2Tags.all().forEach(jinjava::registerTag);
        Jinja2Filters.all().forEach(jinjava::registerFilter);
        Jinja2Tests.all().forEach(jinjava::registerExpTest);
        Jinja2Functions.all().forEach(jinjava::registerFunction);
        this.base = new SharedBaseContext(jinjava.getGlobalContext(), config.getDisabled());
    }

    /** A parsed template: Jinjava's node tree (read-only once built) plus the line map back to the source. */
    record Compiled(String name, Node root, Translation translation) {}

    Compiled compile(String name, String source) {
        Translation translation = Jinja2Lexer.translate(name, source);
        JinjavaInterpreter interpreter = newInterpreter(Map.of(), TemplateErrorTypeHandlingStrategy.ADD_ERROR);
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            Node root;
            try {
                root = interpreter.parse(translation.source());
            } catch (InterpretException e) {
                throw syntax(name, translation, e.getLineNumber(), e.getMessage(), e);
            }
            for (TemplateError error : interpreter.getErrors()) {
                // FATAL: unknown tag, missing or mismatched end tag; a stray end tag is only a warning in Jinjava
                if (error.getSeverity() == TemplateError.ErrorType.FATAL
                        || error.getReason() == TemplateError.ErrorReason.SYNTAX_ERROR) {
                    String message = error.getMessage();
                    if ("Missing start tag".equals(message)) {
                        message = "unexpected '" + error.getFieldName() + "': no block is open that it could end";
                    }
                    throw syntax(name, translation, error.getLineno(), message, null);
                }
            }
            validate(root, name, translation, interpreter, false);
            return new Compiled(name, root, translation);
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    /**
     * Jinjava parses expressions lazily; Jinja2 rejects a bad one when the template is loaded. So do we. Like
     * Jinja2, an unknown filter or test is a load-time error except in a "soft" frame (the condition and body of
     * an if, a conditional expression), where it fails only if it runs.
     */
    private void validate(Node node, String name, Translation translation, JinjavaInterpreter interpreter,
            boolean soft) {
        for (Node child : node.getChildren()) {
            List<String> expressions = new ArrayList<>();
            boolean childSoft = soft; // for the child's own expressions
            boolean bodySoft = soft; // for what is nested in it
            if (child instanceof ExpressionNode) {
                expressions.add(((ExpressionToken) child.getMaster()).getExpr());
            } else if (child instanceof TagNode tag) {
                String helpers = tag.getHelpers() == null ? "" : tag.getHelpers().strip();
                switch (tag.getName()) {
                    case "for", "macro", "call", "filter" -> bodySoft = false; // Jinja2 opens an inner frame
                    case "set" -> bodySoft = helpers.indexOf('=') >= 0 && soft;
                    case "if" -> {
                        childSoft = true;
                        bodySoft = true;
                    }
                    case "elif" -> childSoft = true;
                    default -> { }
                }
                switch (tag.getName()) {
                    case "if", "elif" -> {
                        if (helpers.isEmpty()) {
                            throw syntax(name, translation, tag.getLineNumber(),
                                    "'" + tag.getName() + "' needs a condition", null);
                        }
                        expressions.add(helpers);
                    }
                    case "set" -> {
                        int eq = helpers.indexOf('=');
                        if (eq >= 0) {
                            expressions.add("[" + helpers.substring(eq + 1) + "]");
                        }
                    }
                    case "do" -> expressions.add(helpers);
                    case "for" -> {
                        try {
                            Jinja2Tags.ForHead head = Jinja2Tags.ForTag.head(helpers);
                            expressions.add(head.iterable());
                            if (head.condition() != null) {
                                expressions.add(head.condition());
                            }
                        } catch (TemplateRuntimeError e) {
                            throw syntax(name, translation, tag.getLineNumber(), e.getMessage(), e);
                        }
                    }
                    default -> { }
                }
            }
            for (String expression : expressions) {
                Tree tree;
                try {
                    tree = new PyParser.TreeBuilder().build("#{" + expression + "}");
                } catch (TreeBuilderException e) {
                    throw syntax(name, translation, child.getLineNumber(),
                            "invalid expression '" + expression.strip() + "': " + e.getMessage(), e);
                }
                if (childSoft || hasConditional(tree.getRoot())) {
                    continue; // checked when (if) it runs
                }
                for (IdentifierNode id : tree.getIdentifierNodes()) {
                    String n = id.getName();
                    if (n.startsWith("filter:") && interpreter.getContext().getFilter(n.substring(7)) == null) {
                        throw syntax(name, translation, child.getLineNumber(),
                                "no filter named '" + n.substring(7) + "'", null);
                    }
                    if (n.startsWith("exptest:") && interpreter.getContext().getExpTest(n.substring(8)) == null) {
                        throw syntax(name, translation, child.getLineNumber(),
                                "no test named '" + n.substring(8) + "'", null);
                    }
                }
            }
            validate(child, name, translation, interpreter, bodySoft);
        }
    }

    private static boolean hasConditional(jinjava.de.odysseus.el.tree.Node node) {
        if (node instanceof AstChoice) {
            return true;
        }
        for (int i = 0; i < node.getCardinality(); i++) {
            jinjava.de.odysseus.el.tree.Node child = node.getChild(i);
            if (child != null && hasConditional(child)) {
                return true;
            }
        }
        return false;
    }

    private static TemplateException syntax(String name, Translation t, int jinjavaLine, String message,
            Throwable cause) {
        return new TemplateException(TemplateException.Kind.SYNTAX, name, t.sourceLine(jinjavaLine), message, cause);
    }

    private JinjavaInterpreter newInterpreter(Map<String, Object> bindings,
            TemplateErrorTypeHandlingStrategy fatalErrors) {
        Context context = new Context(base, bindings, config.getDisabled());
        context.setExpressionStrategy(new PyExpressionStrategy());
        context.setErrorHandlingStrategy(ErrorHandlingStrategy.builder()
                .setFatalErrorStrategy(fatalErrors)
                .setNonFatalErrorStrategy(TemplateErrorTypeHandlingStrategy.ADD_ERROR)
                .build());
        return new JinjavaInterpreter(jinjava, context, config);
    }

    String render(Compiled compiled, Map<String, ?> variables, Clock clock) {
        Map<String, Object> bindings = new LinkedHashMap<>();
        for (String fn : Jinja2Functions.NAMES) {
            bindings.put(fn, new Jinja2Tests.GlobalFunction(fn));
        }
        for (Map.Entry<String, ?> e : variables.entrySet()) {
            bindings.put(e.getKey(), toTemplateValue(e.getValue(), 0));
        }
        RenderState state = new RenderState(clock);
        // The first fatal error stops the render (Jinja2 raises; Jinjava would record it and go on).
        JinjavaInterpreter interpreter = newInterpreter(bindings, TemplateErrorTypeHandlingStrategy.THROW_EXCEPTION);
        state.bind();
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            String out = interpreter.render(compiled.root());
            if (state.raised != null) {
                throw raised(compiled, state, null);
            }
            for (TemplateError error : interpreter.getErrors()) {
                if (error.getSeverity() == TemplateError.ErrorType.FATAL
                        || error.getCategory() == com.hubspot.jinjava.interpret.errorcategory.BasicTemplateErrorCategory.CYCLE_DETECTED) {
                    throw new TemplateException(TemplateException.Kind.RENDER, compiled.name(),
                            compiled.translation().sourceLine(error.getLineno()), error.getMessage(), null);
                }
            }
            return out;
        } catch (TemplateException e) {
            throw e;
        } catch (RuntimeException e) {
            if (state.raised != null) {
                throw raised(compiled, state, e);
            }
            int line = e instanceof InterpretException ie ? ie.getLineNumber() : interpreter.getLineNumber();
            String message = state.firstError != null ? state.firstError.getMessage() : rootMessage(e);
            throw new TemplateException(TemplateException.Kind.RENDER, compiled.name(),
                    compiled.translation().sourceLine(line), message, e);
        } finally {
            JinjavaInterpreter.popCurrent();
            RenderState.unbind();
        }
    }

    private static TemplateException raised(Compiled compiled, RenderState state, Throwable cause) {
        return new TemplateException(TemplateException.Kind.RAISED, compiled.name(),
                compiled.translation().sourceLine(state.raisedLine), state.raised, cause);
    }

    /** Our own error's message when there is one in the chain, else the deepest message. */
    private static String rootMessage(Throwable e) {
        String deepest = e.getMessage();
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof TemplateRuntimeError) {
                return t.getMessage();
            }
            if (t.getMessage() != null) {
                deepest = t.getMessage();
            }
            if (t.getCause() == t) {
                break;
            }
        }
        return deepest;
    }

    /**
     * A caller's value as the template sees it: dicts keep their order, lists become lists, integers are Longs,
     * strings stay strings; other objects go through Jackson (records, beans) into the same shapes.
     */
    static Object toTemplateValue(Object v, int depth) {
        if (depth > 100) {
            throw new IllegalArgumentException("template variables nested too deeply (circular reference?)");
        }
        if (v == null || v instanceof String || v instanceof Boolean || v instanceof Long || v instanceof Double) {
            return v;
        }
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Float f) {
            return f.doubleValue();
        }
        if (v instanceof Number || v instanceof CharSequence || v instanceof Character) {
            return v instanceof Number ? v : v.toString();
        }
        if (v instanceof Enum<?> e) {
            return e.name();
        }
        if (v instanceof Map<?, ?> m) {
            Map<String, Object> out = new LinkedHashMap<>();
            for (Map.Entry<?, ?> e : m.entrySet()) {
                out.put(String.valueOf(e.getKey()), toTemplateValue(e.getValue(), depth + 1));
            }
            return out;
        }
        if (v instanceof Collection<?> c) {
            List<Object> out = new ArrayList<>(c.size());
            for (Object o : c) {
                out.add(toTemplateValue(o, depth + 1));
            }
            return out;
        }
        if (v.getClass().isArray()) {
            List<Object> out = new ArrayList<>();
            int n = java.lang.reflect.Array.getLength(v);
            for (int i = 0; i < n; i++) {
                out.add(toTemplateValue(java.lang.reflect.Array.get(v, i), depth + 1));
            }
            return out;
        }
        Object converted;
        try {
            converted = MAPPER.convertValue(v, Object.class);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot pass a " + v.getClass().getName()
                    + " to a chat template: use maps, lists, strings, numbers, booleans or JSON-serialisable objects",
                    e);
        }
        return toTemplateValue(converted, depth + 1);
    }
}

package io.offload4j.chat;

import com.hubspot.jinjava.interpret.InterpretException;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.interpret.JinjavaInterpreter.InterpreterScopeClosable;
import com.hubspot.jinjava.interpret.NullValue;
import com.hubspot.jinjava.lib.fn.MacroFunction;
import com.hubspot.jinjava.lib.tag.IfTag;
import com.hubspot.jinjava.lib.tag.MacroTag;
import com.hubspot.jinjava.lib.tag.SetTag;
import com.hubspot.jinjava.lib.tag.Tag;
import com.hubspot.jinjava.tree.Node;
import com.hubspot.jinjava.tree.TagNode;
import com.hubspot.jinjava.tree.parse.TagToken;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Tags that replace Jinjava's where its semantics differ from Jinja2's.
 * <ul>
 *   <li>{@code for}: Jinja2's loop object (previtem/nextitem/revindex/cycle/changed), the {@code if} filter
 *       ({@code for k, v in d.items() if k != "x"}), {@code else}, tuple unpacking, iteration over dict keys and
 *       string characters, and {@code break}/{@code continue} that stop the rest of the body even when nested in
 *       an {@code if} (Jinjava only checks between the loop's direct children).</li>
 *   <li>{@code if}/{@code elif}: Python truthiness (Jinjava treats the string "false" as false).</li>
 *   <li>{@code set} and {@code macro} arguments: None hides an outer variable of the same name.</li>
 *   <li>{@code generation}: Hugging Face's assistant-mask marker; renders its body unchanged.</li>
 * </ul>
 */
final class Jinja2Tags {

    private Jinja2Tags() {}

    static List<Tag> all() {
        return List.of(new ForTag(), new PyIfTag(), new PySetTag(), new PyMacroTag(), new BreakTag(),
                new ContinueTag(), new GenerationTag());
    }

    /** Unwinds to the enclosing for loop. Extends InterpretException so Jinjava's nodes let it through. */
    static final class LoopControl extends InterpretException {
        final boolean isBreak;

        LoopControl(boolean isBreak) {
            super(isBreak ? "break" : "continue");
            this.isBreak = isBreak;
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this;
        }
    }

    /** A parsed for-tag head: {@code targets in iterable [if condition]}. */
    record ForHead(List<String> targets, String iterable, String condition) {}

    static final class ForTag implements Tag {
        private static final long serialVersionUID = 1L;
        private static final Map<String, ForHead> HEADS = new ConcurrentHashMap<>();

        @Override
        public String getName() {
            return "for";
        }

        @Override
        public boolean isRenderedInValidationMode() {
            return true;
        }

        static ForHead head(String helpers) {
            ForHead h = HEADS.get(helpers);
            if (h == null) {
                h = parseHead(helpers);
                if (HEADS.size() < 10_000) {
                    HEADS.put(helpers, h);
                }
            }
            return h;
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            ForHead head = head(tagNode.getHelpers());
            Object collection = interpreter.resolveELExpression(head.iterable(), tagNode.getLineNumber());
            List<Object> items = Py.iterate(collection);

            List<Node> body = new ArrayList<>();
            List<Node> orElse = null;
            for (Node child : tagNode.getChildren()) {
                if (orElse == null && child instanceof TagNode t && "else".equals(t.getName())) {
                    orElse = new ArrayList<>();
                } else if (orElse != null) {
                    orElse.add(child);
                } else {
                    body.add(child);
                }
            }

            StringBuilder out = new StringBuilder();
            try (InterpreterScopeClosable scope = interpreter.enterScope()) {
                if (head.condition() != null) {
                    List<Object> kept = new ArrayList<>();
                    for (Object item : items) {
                        bind(interpreter, head.targets(), item);
                        Object test = interpreter.resolveELExpression(head.condition(), tagNode.getLineNumber());
                        if (Py.truthy(test)) {
                            kept.add(item);
                        }
                    }
                    items = kept;
                }
                LoopContext loop = new LoopContext(items, 0);
                interpreter.getContext().put("loop", loop);
                for (Object item : items) {
                    loop.advance();
                    bind(interpreter, head.targets(), item);
                    try {
                        for (Node node : body) {
                            out.append(node.render(interpreter).getValue());
                        }
                    } catch (LoopControl control) {
                        if (control.isBreak) {
                            break;
                        }
                    }
                }
            }
            if (items.isEmpty() && orElse != null) {
                for (Node node : orElse) {
                    out.append(node.render(interpreter).getValue());
                }
            }
            return out.toString();
        }

        private static void bind(JinjavaInterpreter interpreter, List<String> targets, Object item) {
            if (targets.size() == 1) {
                put(interpreter, targets.get(0), item);
                return;
            }
            List<Object> values;
            if (item instanceof Map.Entry<?, ?> e) {
                values = new ArrayList<>();
                values.add(e.getKey());
                values.add(e.getValue());
            } else if (item instanceof List<?> || (item != null && item.getClass().isArray())
                    || Py.isString(item)) {
                values = Py.iterate(item);
            } else {
                throw new TemplateRuntimeError("cannot unpack non-iterable " + Py.typeName(item) + " object");
            }
            if (values.size() != targets.size()) {
                throw new TemplateRuntimeError((values.size() < targets.size() ? "not enough" : "too many")
                        + " values to unpack (expected " + targets.size() + ", got " + values.size() + ")");
            }
            for (int i = 0; i < targets.size(); i++) {
                put(interpreter, targets.get(i), values.get(i));
            }
        }

        /** None is stored as NullValue so that it hides an outer variable of the same name. */
        private static void put(JinjavaInterpreter interpreter, String name, Object value) {
            interpreter.getContext().put(name, value == null ? NullValue.INSTANCE : value);
        }

        static ForHead parseHead(String helpers) {
            List<int[]> words = topLevelWords(helpers);
            int in = -1;
            int cond = -1;
            for (int i = 0; i < words.size(); i++) {
                String w = helpers.substring(words.get(i)[0], words.get(i)[1]);
                if (in < 0 && w.equals("in")) {
                    in = i;
                } else if (in >= 0 && cond < 0 && w.equals("if")) {
                    cond = i;
                } else if (in >= 0 && w.equals("recursive") && i == words.size() - 1) {
                    throw new TemplateRuntimeError("recursive for loops are not supported");
                }
            }
            if (in < 0) {
                throw new TemplateRuntimeError("expected 'in' in for loop: '{% for " + helpers.strip() + " %}'");
            }
            String targetText = helpers.substring(0, words.get(in)[0]).strip();
            if (targetText.startsWith("(") && targetText.endsWith(")")) {
                targetText = targetText.substring(1, targetText.length() - 1);
            }
            List<String> parts = new ArrayList<>(List.of(targetText.split(",", -1)));
            if (parts.size() > 1 && parts.get(parts.size() - 1).isBlank()) {
                parts.remove(parts.size() - 1); // trailing comma: "for a, in x"
            }
            List<String> targets = new ArrayList<>();
            for (String t : parts) {
                String name = t.strip();
                if (!name.matches("[A-Za-z_][A-Za-z0-9_]*")) {
                    throw new TemplateRuntimeError("can't assign to '" + name + "' in for loop");
                }
                targets.add(name);
            }
            int iterEnd = cond >= 0 ? words.get(cond)[0] : helpers.length();
            String iterable = helpers.substring(words.get(in)[1], iterEnd).strip();
            if (iterable.isEmpty()) {
                throw new TemplateRuntimeError("expected an expression after 'in' in for loop");
            }
            if (hasTopLevelComma(iterable)) {
                iterable = "[" + iterable + "]";
            }
            String condition = null;
            if (cond >= 0) {
                condition = helpers.substring(words.get(cond)[1]).strip();
                if (condition.isEmpty()) {
                    throw new TemplateRuntimeError("expected a condition after 'if' in for loop");
                }
            }
            return new ForHead(List.copyOf(targets), iterable, condition);
        }

        /** [start, end) of each identifier-like word outside strings and brackets. */
        private static List<int[]> topLevelWords(String s) {
            List<int[]> words = new ArrayList<>();
            int depth = 0;
            for (int i = 0; i < s.length(); ) {
                char c = s.charAt(i);
                if (c == '\'' || c == '"') {
                    i = skipString(s, i);
                } else if (c == '(' || c == '[' || c == '{') {
                    depth++;
                    i++;
                } else if (c == ')' || c == ']' || c == '}') {
                    depth--;
                    i++;
                } else if (Character.isJavaIdentifierStart(c) || Character.isDigit(c)) {
                    int j = i;
                    while (j < s.length() && Character.isJavaIdentifierPart(s.charAt(j))) {
                        j++;
                    }
                    boolean afterDot = i > 0 && s.charAt(i - 1) == '.';
                    if (depth == 0 && !afterDot) {
                        words.add(new int[] {i, j});
                    }
                    i = j;
                } else {
                    i++;
                }
            }
            return words;
        }

        private static boolean hasTopLevelComma(String s) {
            int depth = 0;
            for (int i = 0; i < s.length(); ) {
                char c = s.charAt(i);
                if (c == '\'' || c == '"') {
                    i = skipString(s, i);
                    continue;
                }
                if (c == '(' || c == '[' || c == '{') {
                    depth++;
                } else if (c == ')' || c == ']' || c == '}') {
                    depth--;
                } else if (c == ',' && depth == 0) {
                    return true;
                }
                i++;
            }
            return false;
        }

        private static int skipString(String s, int i) {
            char quote = s.charAt(i);
            for (int j = i + 1; j < s.length(); j++) {
                char c = s.charAt(j);
                if (c == '\\') {
                    j++;
                } else if (c == quote) {
                    return j + 1;
                }
            }
            return s.length();
        }
    }

    /** {@code if}/{@code elif} with Python truthiness. */
    static final class PyIfTag extends IfTag {
        private static final long serialVersionUID = 1L;

        @Override
        public boolean isPositiveIfElseNode(TagNode tagNode, JinjavaInterpreter interpreter) {
            return Py.truthy(interpreter.resolveELExpression(
                    tagNode.getHelpers(), tagNode.getLineNumber(), tagNode.getStartPosition()));
        }
    }

    /**
     * {@code set} that stores None as a marker, so that {@code {% set x = none %}} in a loop or macro hides an outer
     * {@code x} (Jinjava's scopes treat a null as "not set here" and read the outer value); reads turn the marker
     * back into None.
     */
    static final class PySetTag extends SetTag {
        private static final long serialVersionUID = 1L;

        @Override
        public void executeSet(TagToken tagToken, JinjavaInterpreter interpreter, String[] varTokens,
                List<?> resolvedList, boolean allowDeferredValueOverride) {
            List<Object> values = null;
            if (resolvedList != null) {
                values = new ArrayList<>(resolvedList.size());
                for (Object v : resolvedList) {
                    values.add(v == null ? NullValue.INSTANCE : v);
                }
            }
            super.executeSet(tagToken, interpreter, varTokens, values, allowDeferredValueOverride);
        }
    }

    /** {@code macro} whose None arguments hide outer variables of the same name (as {@link PySetTag} does). */
    static final class PyMacroTag extends MacroTag {
        private static final long serialVersionUID = 1L;

        @Override
        protected MacroFunction constructMacroFunction(TagNode tagNode, JinjavaInterpreter interpreter, String name,
                LinkedHashMap<String, Object> argNamesWithDefaults) {
            return new MacroFunction(tagNode.getChildren(), name, argNamesWithDefaults, false,
                    interpreter.getContext(), interpreter.getLineNumber(), interpreter.getPosition()) {
                @Override
                public String getEvaluationResult(Map<String, Object> argMap, Map<String, Object> kwargMap,
                        List<Object> varArgs, JinjavaInterpreter in) {
                    Map<String, Object> args = new LinkedHashMap<>();
                    argMap.forEach((k, v) -> args.put(k, v == null ? NullValue.INSTANCE : v));
                    return super.getEvaluationResult(args, kwargMap, varArgs, in);
                }
            };
        }
    }

    static final class BreakTag implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return "break";
        }

        @Override
        public String getEndTagName() {
            return null;
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            requireLoop(interpreter, "break");
            throw new LoopControl(true);
        }
    }

    static final class ContinueTag implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return "continue";
        }

        @Override
        public String getEndTagName() {
            return null;
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            requireLoop(interpreter, "continue");
            throw new LoopControl(false);
        }
    }

    private static void requireLoop(JinjavaInterpreter interpreter, String tag) {
        if (!(interpreter.getContext().get("loop") instanceof LoopContext)) {
            throw new TemplateRuntimeError("'" + tag + "' outside of a for loop");
        }
    }

    /** {@code {% generation %}...{% endgeneration %}}: renders the body (HF marks assistant tokens with it). */
    static final class GenerationTag implements Tag {
        private static final long serialVersionUID = 1L;

        @Override
        public String getName() {
            return "generation";
        }

        @Override
        public String interpret(TagNode tagNode, JinjavaInterpreter interpreter) {
            StringBuilder out = new StringBuilder();
            for (Node node : tagNode.getChildren()) {
                out.append(node.render(interpreter).getValue());
            }
            return out.toString();
        }
    }
}

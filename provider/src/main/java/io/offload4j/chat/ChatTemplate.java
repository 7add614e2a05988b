package io.offload4j.chat;

import java.time.Clock;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A model's Jinja chat template, compiled once and rendered the way Hugging Face transformers renders it
 * ({@code apply_chat_template}): same bytes for the same conversation.
 *
 * <pre>{@code
 * ChatTemplate t = ChatTemplate.compile("Qwen2.5-7B-Instruct", metadata.getString("tokenizer.chat_template"));
 * String prompt = t.render(messages, tools, true, "", "<|im_end|>");
 * }</pre>
 *
 * Instances are immutable and thread-safe; {@link #render} may run concurrently. Compiling checks the whole
 * template (tags, expressions) and reports a {@link TemplateException} of kind
 * {@link TemplateException.Kind#SYNTAX} naming the template and line; a template that calls
 * {@code raise_exception(msg)} fails the render with kind {@link TemplateException.Kind#RAISED} and
 * {@link TemplateException#templateMessage()} equal to {@code msg}.
 *
 * <h2>Jinja2 compatibility layer</h2>
 * Templates are written for Python's Jinja2 in Hugging Face's configuration ({@code ImmutableSandboxedEnvironment},
 * {@code trim_blocks}, {@code lstrip_blocks}, {@code loopcontrols}, HF's {@code tojson}, {@code raise_exception},
 * {@code strftime_now}). They run on Jinjava, with these bridges (never by editing a template):
 * <ul>
 *   <li><b>Lexing</b> ({@code Jinja2Lexer}, a syntax translation applied before Jinjava parses): Jinja2's
 *       whitespace rules &mdash; {@code -} and {@code +} markers, trim_blocks, lstrip_blocks only where the tag
 *       starts its line (Jinjava strips spaces before any tag), CRLF normalisation, removal of the source's single
 *       trailing newline (Jinjava strips the output's) &mdash; comments and raw blocks; tag ends found outside
 *       strings with brackets balanced ({@code {{ {'a': {'b': 1}} }}}); string literals decoded like Python
 *       ({@code \u00e9}, {@code \x41}, unknown escapes kept; Jinjava rejects them). Every source line stays on
 *       the same line of the translated template, so errors report source lines.</li>
 *   <li><b>Expressions</b> ({@code PyParser}, {@code PyOperators}): {@code not} binds more loosely than
 *       comparisons ({@code not x|length == 1}); slices take a step and Python bounds ({@code messages[::-1]});
 *       keyword-argument values are whole expressions ({@code namespace(i=messages|length - 1)}); filters and
 *       tests chain ({@code x|length is odd}); {@code +} only joins str+str / list+list and otherwise raises
 *       Python's TypeError (JUEL turns {@code 'a' + none} into "anull"); {@code *} repeats sequences; {@code %}
 *       has Python's sign rule; {@code ==} never converts ({@code '1' == 1} is false); {@code and}/{@code or}
 *       return an operand; {@code ~} joins Python {@code str()} of each side; calling a method of None fails.</li>
 *   <li><b>Output</b>: {@code {{ x }}} prints Python's {@code str(x)} ({@code True}, {@code ['a', 1]},
 *       {@code {'k': 'v'}}, {@code 1e+16}); Jinjava would print {@code true}, {@code [a, 1]}, {@code {k=v}}.
 *       Nested interpretation (re-rendering output that contains <code>&#123;&#123;</code>) is off: user text is data.</li>
 *   <li><b>Truthiness</b>: Python's in {@code if}, {@code not}, {@code and}, {@code or}, {@code select} and loop
 *       filters; Jinjava treats the string "false" as false.</li>
 *   <li><b>for loops</b>: own tag with {@code loop.previtem/nextitem/revindex/cycle()/changed()}, the {@code if}
 *       clause, {@code else}, tuple unpacking, iteration over dict keys and string characters, and
 *       {@code break}/{@code continue} that also skip the rest of an enclosing {@code if} body (Jinjava only
 *       stops between the loop's direct children).</li>
 *   <li><b>Attributes and methods</b>: Python semantics for dicts ({@code items() keys() values() get()}), lists
 *       (negative indexes, {@code index() count()}) and strings ({@code strip split rsplit splitlines startswith
 *       endswith upper lower title capitalize replace find count join partition format ...}); Java methods are
 *       not reachable, and mutating methods ({@code append}, {@code update} ...) fail as in HF's immutable
 *       sandbox. {@code include}/{@code import}/{@code extends} are disabled (HF renders from a string).</li>
 *   <li><b>Filters</b>: HF's {@code tojson} (Python {@code json.dumps}: {@code ", "} and {@code ": "},
 *       {@code ensure_ascii=False}, {@code indent}, {@code sort_keys}, {@code separators}), Jinja2's
 *       {@code items}, and Python-faithful {@code trim length count string list first last join default select
 *       reject selectattr rejectattr map upper lower title capitalize replace}. An unknown filter or test is an
 *       error when the template is compiled, as in Jinja2.</li>
 *   <li><b>Tests</b>: a string {@code is iterable}/{@code is sequence}; {@code number integer float boolean
 *       sameas in callable} by Python type; {@code eq}/{@code ne} with Python equality.</li>
 *   <li><b>Globals</b>: {@code raise_exception}, {@code strftime_now} (from an injectable {@link Clock}),
 *       {@code namespace} (keeps None attributes), {@code dict}; {@code strftime_now is defined} holds.</li>
 *   <li><b>Errors</b>: Jinjava records errors and keeps going; here the first error stops the render and surfaces
 *       as a {@link TemplateException} with the source line. Expressions are parsed when the template is compiled
 *       (Jinjava parses them lazily), so a bad expression in a branch that never runs is still reported.</li>
 * </ul>
 *
 * <h2>Known gaps</h2>
 * <ul>
 *   <li>None and undefined are both Java null: {@code x is defined} is false for a key present with value None,
 *       {@code {{ none }}} and {@code 'a' ~ none} print nothing (Jinja2: "None"), and reading an attribute of an
 *       undefined value yields undefined instead of raising. {@code is none} / {@code is not none} agree with
 *       Jinja2, and so does everything the 48 reference renderings and the conformance suite exercise.</li>
 *   <li>Ordering comparisons are JUEL's: {@code '1' < 2} converts instead of raising, and comparisons do not
 *       chain ({@code 1 < x < 3} is a syntax error). JUEL's keywords ({@code div mod eq ne lt gt le ge empty
 *       instanceof null}) cannot be used as variable names.</li>
 *   <li>Not supported: recursive for loops ({@code loop(...)}), {@code {% filter %}} blocks, format specs in
 *       {@code str.format}, tuple values in {@code {% set a = 1, 2 %}}, {@code include}/{@code import}/
 *       {@code extends} (disabled on purpose).</li>
 * </ul>
 */
public final class ChatTemplate {

    private final JinjaEnvironment.Compiled compiled;
    private final String source;
    private final Clock clock;

    private ChatTemplate(JinjaEnvironment.Compiled compiled, String source, Clock clock) {
        this.compiled = compiled;
        this.source = source;
        this.clock = clock;
    }

    /** Compiles an anonymous template (named "inline" in errors). */
    public static ChatTemplate compile(String source) {
        return compile("inline", source);
    }

    /**
     * Compiles a template.
     *
     * @param name   what errors call it: the model or file it came from
     * @param source the Jinja source, e.g. a GGUF's {@code tokenizer.chat_template}
     * @throws TemplateException (kind SYNTAX) when the source is not valid Jinja
     */
    public static ChatTemplate compile(String name, String source) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(source, "source");
        return new ChatTemplate(JinjaEnvironment.INSTANCE.compile(name, source), source, Clock.systemDefaultZone());
    }

    /** The same template with {@code strftime_now} reading this clock (its zone gives the local time). */
    public ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(compiled, source, Objects.requireNonNull(clock, "clock"));
    }

    public String name() {
        return compiled.name();
    }

    public String source() {
        return source;
    }

    /**
     * Renders with exactly these variables (e.g. {@code messages}, {@code tools}, {@code add_generation_prompt},
     * {@code bos_token}, {@code eos_token}, {@code date_string} ...). Values are maps, lists, strings, numbers,
     * booleans or null; other objects are converted to maps as Jackson would serialise them.
     *
     * @throws TemplateException kind RAISED when the template rejects the input with {@code raise_exception},
     *                           kind RENDER when evaluation fails
     */
    public String render(Map<String, ?> variables) {
        return JinjaEnvironment.INSTANCE.render(compiled, Objects.requireNonNull(variables, "variables"), clock);
    }

    /**
     * Renders a conversation as {@code apply_chat_template} does.
     *
     * @param messages            HF-style messages: {@code role}, {@code content}, and for tool use
     *                            {@code tool_calls} ({@code [{type: function, function: {name, arguments}}]}),
     *                            {@code tool_call_id}, {@code name}
     * @param tools               JSON-schema tool definitions, or null for none (then {@code tools} is not passed
     *                            to the template at all, so {@code tools is defined} is false)
     * @param addGenerationPrompt end with the header that starts the assistant's turn
     * @param bosToken            the text of the model's BOS token (empty if none)
     * @param eosToken            the text of the model's EOS token (empty if none)
     */
    public String render(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
            boolean addGenerationPrompt, String bosToken, String eosToken) {
        return render(messages, tools, addGenerationPrompt, bosToken, eosToken, Map.of());
    }

    /**
     * The same, with extra template variables (e.g. {@code enable_thinking}); they cannot replace the ones above.
     */
    public String render(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
            boolean addGenerationPrompt, String bosToken, String eosToken, Map<String, ?> extraVariables) {
        Map<String, Object> variables = new LinkedHashMap<>(extraVariables);
        variables.put("messages", Objects.requireNonNull(messages, "messages"));
        if (tools != null) {
            variables.put("tools", tools);
        }
        variables.put("add_generation_prompt", addGenerationPrompt);
        variables.put("bos_token", bosToken == null ? "" : bosToken);
        variables.put("eos_token", eosToken == null ? "" : eosToken);
        return render(variables);
    }

    @Override
    public String toString() {
        return "ChatTemplate[" + name() + ", " + source.length() + " chars]";
    }
}

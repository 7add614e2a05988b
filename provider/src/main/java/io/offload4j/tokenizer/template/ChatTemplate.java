package io.offload4j.tokenizer.template;

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
 *   <li><b>Whitespace</b>: a lexer pass ({@code Jinja2Lexer}) applies Jinja2's rules itself &mdash;
 *       {@code -} markers, trim_blocks, lstrip_blocks only at line starts, {@code +} markers, comments, raw
 *       blocks, CRLF normalisation, removal of the source's single trailing newline &mdash; and hands Jinjava a
 *       template with no whitespace control left. Tag ends are found outside strings with balanced brackets.</li>
 *   <li><b>Output</b>: {@code {{ x }}} prints Python's {@code str(x)} ({@code True}, {@code ['a', 1]},
 *       {@code {'k': 'v'}}, {@code 1.0}); Jinjava would print {@code true}, {@code [a, 1]}, {@code {k=v}}.</li>
 *   <li><b>Truthiness</b>: Python's everywhere ({@code if}, {@code not}, {@code and}, {@code or}, select filters);
 *       Jinjava treats the string "false" as false.</li>
 *   <li><b>for loops</b>: own tag with {@code loop.previtem/nextitem/revindex/cycle/changed}, the {@code if}
 *       filter clause, {@code else}, tuple unpacking, dict iteration over keys, and {@code break}/{@code continue}
 *       that also skip the rest of an enclosing {@code if} body.</li>
 *   <li><b>Attributes and methods</b>: Python semantics for dicts ({@code items() keys() values() get()}),
 *       lists (negative indexes, {@code index() count()}) and strings ({@code strip split startswith endswith
 *       upper lower title capitalize replace find count join format ...}); Java methods are not reachable, and
 *       mutating methods ({@code append}, {@code update} ...) fail as in HF's immutable sandbox.</li>
 *   <li><b>Filters</b>: HF's {@code tojson} (Python {@code json.dumps} spacing, {@code ensure_ascii=False},
 *       {@code indent}, {@code sort_keys}, {@code separators}), Jinja2's {@code items}, and Python-faithful
 *       {@code trim length count string list first last join default select reject selectattr rejectattr map
 *       upper lower title capitalize replace}.</li>
 *   <li><b>Tests</b>: a string {@code is iterable}/{@code is sequence}; {@code number integer float boolean
 *       sameas in callable} by Python type; {@code ==}-style tests with Python equality.</li>
 *   <li><b>Globals</b>: {@code raise_exception}, {@code strftime_now} (from an injectable {@link Clock}),
 *       {@code namespace} (keeps None attributes), {@code dict}; {@code strftime_now is defined} holds.</li>
 *   <li><b>Errors</b>: Jinjava records errors and keeps going; here the first error stops the render and
 *       surfaces as a {@link TemplateException} with the template's line. Expressions are parsed at compile time
 *       (Jinjava parses them lazily). Nested interpretation (re-rendering output that contains {@code {{}) is
 *       off, so user text is never evaluated.</li>
 * </ul>
 *
 * <h2>Known gaps</h2>
 * <ul>
 *   <li>None and undefined are both Java null: {@code x is defined} is false for a key present with value None,
 *       and {@code {{ none }}} prints nothing (Jinja2: "None"). Templates that test {@code is none} /
 *       {@code is not none} behave as in Jinja2.</li>
 *   <li>Slices with a step ({@code messages[::-1]}) are not supported by Jinjava's parser (a syntax error at
 *       compile time).</li>
 *   <li>Expression semantics are JUEL's: {@code 'a' + 1} concatenates (Python: TypeError), {@code '1' == 1} is
 *       true, {@code a and b} yields a boolean rather than an operand, integer {@code %} and {@code //} follow
 *       Java's sign rules for negatives; JUEL keywords ({@code div mod eq ne lt gt le ge empty instanceof null})
 *       cannot be used as variable names.</li>
 *   <li>{@code {% set x = none %}} inside a loop or macro does not hide an outer {@code x}; recursive for loops,
 *       {@code {% filter %}} blocks and format specs in {@code str.format} are not supported.</li>
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
        Map<String, Object> variables = new LinkedHashMap<>();
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

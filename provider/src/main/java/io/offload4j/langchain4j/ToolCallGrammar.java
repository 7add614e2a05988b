package io.offload4j.langchain4j;

import static io.offload4j.engine.grammar.GrammarBuilder.literal;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.model.chat.request.json.JsonObjectSchema;
import io.offload4j.chat.ThinkingFormat;
import io.offload4j.engine.grammar.Grammar;
import io.offload4j.engine.grammar.GrammarBuilder;
import io.offload4j.engine.grammar.GrammarBuilder.Rule;
import io.offload4j.engine.grammar.JsonGrammar;
import java.util.ArrayList;
import java.util.List;

/**
 * The grammar of a reply that is nothing but tool calls ({@code ToolChoice.REQUIRED}), in the model's own
 * {@link ToolCallFormat}, naming only the declared tools and with each tool's arguments matching its parameter
 * schema:
 * <ul>
 *   <li>{@link ToolCallFormat#HERMES}: one or more {@code <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>}
 *       blocks, separated by a new line;</li>
 *   <li>{@link ToolCallFormat#MISTRAL}: {@code [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]};</li>
 *   <li>{@link ToolCallFormat#LLAMA3_JSON}: one {@code {"name": ..., "parameters": {...}}}.</li>
 * </ul>
 */
final class ToolCallGrammar {

    private ToolCallGrammar() {}

    static Grammar of(ToolCallFormat format, List<ToolSpecification> tools) {
        return of(format, tools, null, false);
    }

    /** The same, after the model's thinking ({@link ThinkingGrammar}) when {@code thinking} is not null. */
    static Grammar of(ToolCallFormat format, List<ToolSpecification> tools, ThinkingFormat thinking, boolean opened) {
        if (tools.isEmpty()) {
            throw new IllegalArgumentException("ToolChoice.REQUIRED needs at least one tool specification");
        }
        GrammarBuilder b = new GrammarBuilder();
        JsonGrammar json = new JsonGrammar(b);
        Rule ws = json.ws();
        String argumentsKey = format == ToolCallFormat.LLAMA3_JSON ? "parameters" : "arguments";
        List<Rule> calls = new ArrayList<>();
        for (ToolSpecification tool : tools) {
            JsonObjectSchema parameters = tool.parameters() != null ? tool.parameters()
                    : JsonObjectSchema.builder().additionalProperties(false).build();
            calls.add(b.rule("call:" + tool.name()).alt(literal("{"), ws, literal("\"name\""), ws, literal(":"), ws,
                    literal(JsonGrammar.quote(tool.name())), ws, literal(","), ws,
                    literal(JsonGrammar.quote(argumentsKey)), ws, literal(":"), ws,
                    JsonSchemaGrammar.rule(json, parameters), ws, literal("}")));
        }
        Rule call = json.oneOf(calls);
        Rule root = switch (format) {
            case HERMES -> {
                b.allowControlToken("<tool_call>").allowControlToken("</tool_call>");
                Rule block = b.rule("block").alt(literal("<tool_call>\n"), call, literal("\n</tool_call>"));
                Rule more = b.rule("blocks");
                more.alt().alt(literal("\n"), block, more);
                yield b.rule("tool_calls").alt(block, more);
            }
            case MISTRAL -> {
                b.allowControlToken("[TOOL_CALLS]");
                Rule more = b.rule("more");
                more.alt(literal("]")).alt(literal(","), ws, call, ws, more);
                yield b.rule("tool_calls").alt(literal("[TOOL_CALLS]["), ws, call, ws, more);
            }
            case LLAMA3_JSON -> b.rule("tool_call").alt(call);
            case NONE -> throw new IllegalArgumentException("the model has no tool-call format");
        };
        return b.build(ThinkingGrammar.wrap(b, json, root, thinking, opened));
    }
}

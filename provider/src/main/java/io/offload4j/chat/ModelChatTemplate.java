package io.offload4j.chat;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The chat format chosen for one model (see {@link ChatTemplates#forModel}): the template, the texts of the
 * model's BOS/EOS tokens that templates receive, and the end-of-turn marker on which generation stops.
 *
 * @param format          where the template comes from ({@link ChatFormat#MODEL} or a built-in fallback)
 * @param template        the template for plain conversations
 * @param toolUseTemplate the model's {@code tokenizer.chat_template.tool_use}, used when tools are given; or null
 * @param bosToken        text of the BOS token ("" if none)
 * @param eosToken        text of the EOS token ("" if none)
 * @param endOfTurn       the text that closes an assistant turn in this format (e.g. {@code <|eot_id|>},
 *                        {@code <|im_end|>}, {@code <end_of_turn>}, {@code </s>}); the EOS text for plain models
 * @param stopMarkers     every text that should end generation: {@code endOfTurn} first, then the EOS and any
 *                        end-of-message token the vocabulary declares (no duplicates, no empty strings)
 */
public record ModelChatTemplate(ChatFormat format, ChatTemplate template, ChatTemplate toolUseTemplate,
        String bosToken, String eosToken, String endOfTurn, List<String> stopMarkers) {

    public ModelChatTemplate {
        Objects.requireNonNull(format, "format");
        Objects.requireNonNull(template, "template");
        bosToken = bosToken == null ? "" : bosToken;
        eosToken = eosToken == null ? "" : eosToken;
        stopMarkers = List.copyOf(stopMarkers);
    }

    /**
     * Renders a conversation with the model's BOS/EOS texts.
     *
     * @see ChatTemplate#render(List, List, boolean, String, String)
     */
    public String render(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
            boolean addGenerationPrompt) {
        return render(messages, tools, addGenerationPrompt, Map.of());
    }

    /** The same, with extra template variables such as {@code enable_thinking}. */
    public String render(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
            boolean addGenerationPrompt, Map<String, ?> extraVariables) {
        ChatTemplate t = tools != null && toolUseTemplate != null ? toolUseTemplate : template;
        return t.render(messages, tools, addGenerationPrompt, bosToken, eosToken, extraVariables);
    }

    /**
     * True when a rendered prompt already begins with the BOS text; the prompt should then be encoded without
     * adding another BOS (templates such as Llama 3's write {@code bos_token} themselves).
     */
    public boolean startsWithBos(String prompt) {
        return !bosToken.isEmpty() && prompt.startsWith(bosToken);
    }

    /** The same, with {@code strftime_now} reading this clock. */
    public ModelChatTemplate withClock(Clock clock) {
        return new ModelChatTemplate(format, template.withClock(clock),
                toolUseTemplate == null ? null : toolUseTemplate.withClock(clock), bosToken, eosToken, endOfTurn,
                stopMarkers);
    }
}

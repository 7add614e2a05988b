package io.offload4j.chat;

import io.offload4j.tokenizer.Tokenizer;
import java.util.Optional;

/**
 * How a reasoning model marks its thinking: {@code <think>…</think>} before the answer (Qwen3, QwQ, DeepSeek-R1
 * and its distills). Recognised from the chat template (it writes or strips {@code </think>}) or the vocabulary
 * (both markers are tokens).
 *
 * @param start     the text that opens the thinking
 * @param end       the text that closes it
 * @param hasSwitch the template reads {@code enable_thinking} (Qwen3): rendering it with {@code false} asks the
 *                  model to answer without thinking
 */
public record ThinkingFormat(String start, String end, boolean hasSwitch) {

    public static final String START = "<think>";
    public static final String END = "</think>";
    /** The template variable that turns thinking on or off. */
    public static final String SWITCH_VARIABLE = "enable_thinking";

    /** The model's thinking format, if it has one. */
    public static Optional<ThinkingFormat> detect(ModelChatTemplate template, Tokenizer tokenizer) {
        String sources = template.template().source()
                + (template.toolUseTemplate() == null ? "" : template.toolUseTemplate().source());
        boolean inTemplate = sources.contains(END);
        boolean inVocabulary = tokenizer.tokenId(START) >= 0 && tokenizer.tokenId(END) >= 0;
        if (!inTemplate && !inVocabulary) {
            return Optional.empty();
        }
        return Optional.of(new ThinkingFormat(START, END, sources.contains(SWITCH_VARIABLE)));
    }

    /**
     * True when the rendered prompt already opens the thinking (DeepSeek-R1's template ends its generation prompt
     * with {@code <think>\n}): the reply starts inside it.
     */
    public boolean opensIn(String renderedPrompt) {
        return renderedPrompt.stripTrailing().endsWith(start);
    }
}

package io.offload4j.chat;

import io.offload4j.tokenizer.Tokenizer;
import io.offload4j.gguf.GgufMetadata;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Turns a conversation into prompt tokens through the model's chat template, and tells which tokens
 * and texts end the assistant's turn. Messages are Hugging Face-style maps ({@code role},
 * {@code content}, {@code tool_calls} …), exactly what the template receives.
 */
public final class ChatPrompts {

    private final Tokenizer tokenizer;
    private final ModelChatTemplate template;
    private final int[] stopTokens;
    private final List<String> stopStrings;

    public ChatPrompts(Tokenizer tokenizer, ModelChatTemplate template) {
        this.tokenizer = tokenizer;
        this.template = template;
        List<Integer> ids = new ArrayList<>();
        List<String> texts = new ArrayList<>();
        for (String marker : template.stopMarkers()) {
            int id = tokenizer.tokenId(marker);
            if (id >= 0) {
                ids.add(id);
            } else {
                texts.add(marker); // a marker that is not one token (e.g. a plain-text format) stops as text
            }
        }
        this.stopTokens = ids.stream().mapToInt(Integer::intValue).toArray();
        this.stopStrings = List.copyOf(texts);
    }

    /**
     * The model's chat format: its own {@code tokenizer.chat_template}, or a built-in fallback chosen from
     * its special tokens.
     *
     * @throws TemplateException when the model's template cannot be compiled
     */
    public static ChatPrompts forModel(Tokenizer tokenizer, GgufMetadata tokenizerMetadata) {
        return new ChatPrompts(tokenizer, ChatTemplates.forModel(tokenizerMetadata));
    }

    public ModelChatTemplate template() {
        return template;
    }

    /** The rendered prompt text (for logging and tests). */
    public String render(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
                         boolean addGenerationPrompt) {
        return template.render(messages, tools, addGenerationPrompt);
    }

    /**
     * Renders and encodes a conversation. Special tokens the template writes ({@code <|im_start|>} …) are
     * parsed as such; BOS is added unless the template already wrote it.
     */
    public int[] encode(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
                        boolean addGenerationPrompt) {
        String text = render(messages, tools, addGenerationPrompt);
        return tokenizer.encode(text, !template.startsWithBos(text), true);
    }

    /** The rendered prompt with extra template variables (e.g. {@code enable_thinking}). */
    public String render(List<? extends Map<String, ?>> messages, List<? extends Map<String, ?>> tools,
                         boolean addGenerationPrompt, Map<String, ?> extraVariables) {
        return template.render(messages, tools, addGenerationPrompt, extraVariables);
    }

    /** Encodes a prompt rendered by {@link #render}: special tokens parsed, BOS added unless already written. */
    public int[] encodeRendered(String text) {
        return tokenizer.encode(text, !template.startsWithBos(text), true);
    }

    /** Token ids that end the assistant's turn (besides the tokenizer's end-of-generation tokens). */
    public int[] stopTokens() {
        return stopTokens.clone();
    }

    /** End-of-turn markers that are not single tokens, to be used as stop strings. */
    public List<String> stopStrings() {
        return stopStrings;
    }

    /** {@code {"role": role, "content": content}}. */
    public static Map<String, Object> message(String role, String content) {
        return Map.of("role", role, "content", content);
    }
}

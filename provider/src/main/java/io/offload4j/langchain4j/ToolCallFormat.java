package io.offload4j.langchain4j;

import java.util.List;

/**
 * How a model writes tool calls, recognised from its chat template.
 *
 * <ul>
 *   <li>{@link #HERMES}: {@code <tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>}, one block per call
 *       (Qwen 2.5, Hermes 2/3 and other ChatML tool templates);</li>
 *   <li>{@link #MISTRAL}: {@code [TOOL_CALLS][{"name": ..., "arguments": {...}, "id": ...}, ...]}, or the newer
 *       {@code [TOOL_CALLS]name[ARGS]{...}} (Mistral, Mistral Nemo);</li>
 *   <li>{@link #LLAMA3_JSON}: the whole reply is {@code {"name": ..., "parameters": {...}}}, optionally after
 *       {@code <|python_tag|>} (Llama 3.1, 3.2, 3.3);</li>
 *   <li>{@link #NONE}: the template does not render tools, so the model was never taught to call them.</li>
 * </ul>
 */
public enum ToolCallFormat {

    HERMES(List.of("<tool_call>")),
    MISTRAL(List.of("[TOOL_CALLS]")),
    LLAMA3_JSON(List.of("<|python_tag|>")),
    NONE(List.of());

    private final List<String> markers;

    ToolCallFormat(List<String> markers) {
        this.markers = markers;
    }

    /** Texts (or special tokens' texts) that open the tool-call part of a reply. */
    public List<String> markers() {
        return markers;
    }

    /**
     * The format a chat template teaches: by the markers it writes for tool calls, or by Llama 3.1's
     * {@code "parameters"} convention; {@link #NONE} when it never mentions {@code tools}.
     *
     * @param templateSources the template sources (e.g. the default and the {@code tool_use} template); nulls ignored
     */
    public static ToolCallFormat detect(String... templateSources) {
        StringBuilder all = new StringBuilder();
        for (String s : templateSources) {
            if (s != null) {
                all.append(s).append('\n');
            }
        }
        String t = all.toString();
        if (t.contains("<tool_call>")) {
            return HERMES;
        }
        if (t.contains("[TOOL_CALLS]")) {
            return MISTRAL;
        }
        if (t.contains("<|python_tag|>") || (t.contains("<|start_header_id|>") && t.contains("\"parameters\""))) {
            return LLAMA3_JSON;
        }
        return NONE;
    }
}

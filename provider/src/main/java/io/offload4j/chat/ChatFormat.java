package io.offload4j.chat;

/**
 * Where a model's chat prompt format comes from: the model's own template ({@link #MODEL}) or one of the
 * built-in fallbacks used when a GGUF has no {@code tokenizer.chat_template}, chosen from the special tokens
 * its vocabulary has. Each fallback is an ordinary Jinja template rendered by {@link ChatTemplate}.
 */
public enum ChatFormat {

    /** The model's own {@code tokenizer.chat_template}. */
    MODEL(null, null),

    /** ChatML ({@code <|im_start|>role\n...<|im_end|>\n}): Qwen, SmolLM, Hermes, many fine-tunes. */
    CHATML("<|im_end|>", """
            {%- for message in messages %}
                {{- '<|im_start|>' + message['role'] + '\\n' + (message['content'] if message['content'] is string else '') + '<|im_end|>\\n' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|im_start|>assistant\\n' }}
            {%- endif %}
            """),

    /** Llama 3 headers ({@code <|start_header_id|>role<|end_header_id|>\n\n...<|eot_id|>}). */
    LLAMA3("<|eot_id|>", """
            {{- bos_token }}
            {%- for message in messages %}
                {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (message['content'] if message['content'] is string else '') | trim + '<|eot_id|>' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
            {%- endif %}
            """),

    /**
     * Mistral/Llama 2 instructions ({@code [INST] user [/INST]assistant</s>}); a system message is prepended to
     * the next user message.
     */
    MISTRAL("</s>", """
            {{- bos_token }}
            {%- set ns = namespace(system='') %}
            {%- for message in messages %}
                {%- set content = message['content'] if message['content'] is string else '' %}
                {%- if message['role'] == 'system' %}
                    {%- set ns.system = content + '\\n\\n' %}
                {%- elif message['role'] == 'user' %}
                    {{- '[INST] ' + ns.system + content + ' [/INST]' }}
                    {%- set ns.system = '' %}
                {%- elif message['role'] == 'assistant' %}
                    {{- content + eos_token }}
                {%- endif %}
            {%- endfor %}
            """),

    /**
     * Gemma turns ({@code <start_of_turn>user\n...<end_of_turn>\n}, assistant is "model"); Gemma has no system
     * role, so a system message is prepended to the next turn, as Gemma 3's template does.
     */
    GEMMA("<end_of_turn>", """
            {{- bos_token }}
            {%- set ns = namespace(system='') %}
            {%- for message in messages %}
                {%- set content = message['content'] if message['content'] is string else '' %}
                {%- if message['role'] == 'system' %}
                    {%- set ns.system = content + '\\n\\n' %}
                {%- else %}
                    {{- '<start_of_turn>' + ('model' if message['role'] == 'assistant' else message['role']) + '\\n' + ns.system + content | trim + '<end_of_turn>\\n' }}
                    {%- set ns.system = '' %}
                {%- endif %}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<start_of_turn>model\\n' }}
            {%- endif %}
            """),

    /**
     * Base models (e.g. stories260K): the messages' text alone, one after another separated by a newline, so the
     * model simply continues it. Generation ends at the end-of-sequence token.
     */
    PLAIN(null, """
            {%- for message in messages %}
                {%- if not loop.first %}{{ '\\n' }}{% endif %}
                {{- message['content'] if message['content'] is string else '' }}
            {%- endfor %}
            """);

    private final String endOfTurn;
    private final String source;

    ChatFormat(String endOfTurn, String source) {
        this.endOfTurn = endOfTurn;
        this.source = source;
    }

    /**
     * The marker that ends a turn in this format ({@code <|im_end|>}, {@code <|eot_id|>}, {@code </s>},
     * {@code <end_of_turn>}); null for {@link #PLAIN} (the model's EOS ends it) and {@link #MODEL} (found per
     * model, see {@link ModelChatTemplate#endOfTurn()}).
     */
    public String endOfTurn() {
        return endOfTurn;
    }

    /** The built-in template's Jinja source; null for {@link #MODEL}. */
    public String templateSource() {
        return source;
    }
}

package io.offload4j.chat;

import io.offload4j.gguf.GgufMetadata;
import java.util.ArrayList;
import java.util.Collection;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Chooses a model's chat template from its GGUF metadata: {@code tokenizer.chat_template} when present, else a
 * built-in {@link ChatFormat} picked from the vocabulary's special tokens, and works out the end-of-turn marker
 * that should stop generation.
 */
public final class ChatTemplates {

    static final String CHAT_TEMPLATE = "tokenizer.chat_template";
    static final String TOOL_USE_TEMPLATE = "tokenizer.chat_template.tool_use";
    static final String TOKENS = "tokenizer.ggml.tokens";
    static final String TOKEN_TYPES = "tokenizer.ggml.token_type";

    private static final int TYPE_CONTROL = 3;
    private static final int TYPE_USER_DEFINED = 4;
    private static final String PROBE = "offload4j-end-of-turn-probe";

    /** Turn markers known from real templates, most specific first (used when probing a template fails). */
    private static final List<String> KNOWN_END_OF_TURN = List.of("<|eot_id|>", "<|im_end|>", "<end_of_turn>",
            "<|end|>", "<|end_of_text|>", "<｜end▁of▁sentence｜>", "<|endoftext|>", "</s>");

    private static final Map<ChatFormat, ChatTemplate> BUILT_IN = new EnumMap<>(ChatFormat.class);

    static {
        for (ChatFormat f : ChatFormat.values()) {
            if (f.templateSource() != null) {
                BUILT_IN.put(f, ChatTemplate.compile("built-in " + f.name().toLowerCase() + " format",
                        f.templateSource()));
            }
        }
    }

    private ChatTemplates() {}

    /** The compiled built-in template of a fallback format. */
    public static ChatTemplate builtIn(ChatFormat format) {
        ChatTemplate t = BUILT_IN.get(format);
        if (t == null) {
            throw new IllegalArgumentException(format + " has no built-in template");
        }
        return t;
    }

    /**
     * The fallback format for a vocabulary: Llama 3 if it has {@code <|start_header_id|>}, ChatML for
     * {@code <|im_start|>}, Gemma for {@code <start_of_turn>}, Mistral for {@code [INST]}, otherwise plain text.
     */
    public static ChatFormat fallbackFormat(Collection<String> vocabulary) {
        Set<String> vocab = vocabulary instanceof Set<String> s ? s : new HashSet<>(vocabulary);
        if (vocab.contains("<|start_header_id|>")) {
            return ChatFormat.LLAMA3;
        }
        if (vocab.contains("<|im_start|>")) {
            return ChatFormat.CHATML;
        }
        if (vocab.contains("<start_of_turn>")) {
            return ChatFormat.GEMMA;
        }
        if (vocab.contains("[INST]")) {
            return ChatFormat.MISTRAL;
        }
        return ChatFormat.PLAIN;
    }

    /**
     * The chat template for a model.
     *
     * @throws TemplateException (kind SYNTAX) when the model's own template is not valid Jinja
     */
    public static ModelChatTemplate forModel(GgufMetadata metadata) {
        String[] tokens = metadata.has(TOKENS) ? metadata.getStringArray(TOKENS) : new String[0];
        String bos = tokenText(metadata, tokens, "tokenizer.ggml.bos_token_id");
        String eos = tokenText(metadata, tokens, "tokenizer.ggml.eos_token_id");
        String eot = tokenText(metadata, tokens, "tokenizer.ggml.eot_token_id");
        String eom = tokenText(metadata, tokens, "tokenizer.ggml.eom_token_id");
        Set<String> specials = specialTokens(metadata, tokens);

        Optional<String> own = metadata.optString(CHAT_TEMPLATE).filter(s -> !s.isBlank());
        ChatFormat format;
        ChatTemplate template;
        ChatTemplate toolUse = null;
        String endOfTurn;
        if (own.isPresent()) {
            String name = modelName(metadata);
            format = ChatFormat.MODEL;
            template = ChatTemplate.compile(name + " " + CHAT_TEMPLATE, own.get());
            Optional<String> tools = metadata.optString(TOOL_USE_TEMPLATE).filter(s -> !s.isBlank());
            if (tools.isPresent()) {
                toolUse = ChatTemplate.compile(name + " " + TOOL_USE_TEMPLATE, tools.get());
            }
            endOfTurn = !eot.isEmpty() ? eot : endOfTurn(template, bos, eos, specials);
        } else {
            format = fallbackFormat(List.of(tokens));
            template = builtIn(format);
            endOfTurn = format.endOfTurn() != null ? format.endOfTurn() : eos;
        }
        Set<String> stops = new LinkedHashSet<>();
        for (String s : new String[] {endOfTurn, eos, eot, eom}) {
            if (s != null && !s.isEmpty()) {
                stops.add(s);
            }
        }
        return new ModelChatTemplate(format, template, toolUse, bos, eos, endOfTurn == null ? "" : endOfTurn,
                new ArrayList<>(stops));
    }

    /**
     * What a template writes right after an assistant message: renders a probe conversation and takes the longest
     * special token that follows the assistant's text; falls back to a known marker present in the source, then
     * to the EOS text.
     */
    static String endOfTurn(ChatTemplate template, String bos, String eos, Set<String> specials) {
        Set<String> candidates = new HashSet<>(specials);
        if (!eos.isEmpty()) {
            candidates.add(eos);
        }
        try {
            String rendered = template.render(List.of(Map.of("role", "user", "content", "Hello"),
                    Map.of("role", "assistant", "content", PROBE)), null, false, bos, eos);
            int at = rendered.lastIndexOf(PROBE);
            if (at >= 0) {
                String after = rendered.substring(at + PROBE.length());
                String best = null;
                for (String c : candidates) {
                    if (!c.isEmpty() && after.startsWith(c) && (best == null || c.length() > best.length())) {
                        best = c;
                    }
                }
                if (best != null) {
                    return best;
                }
            }
        } catch (TemplateException e) {
            // a template that refuses the probe conversation: look at its source instead
        }
        for (String marker : KNOWN_END_OF_TURN) {
            if (template.source().contains(marker) && (specials.isEmpty() || specials.contains(marker))) {
                return marker;
            }
        }
        return eos;
    }

    private static String modelName(GgufMetadata metadata) {
        for (String key : new String[] {"general.name", "general.basename"}) {
            Optional<String> v = metadata.has(key) ? metadata.optString(key) : Optional.empty();
            if (v.isPresent() && !v.get().isBlank()) {
                return v.get();
            }
        }
        return "GGUF model";
    }

    private static String tokenText(GgufMetadata metadata, String[] tokens, String key) {
        int id = metadata.getInt(key, -1);
        return id >= 0 && id < tokens.length ? tokens[id] : "";
    }

    /** Control and user-defined tokens; without token types, tokens shaped like {@code <...>} or {@code [...]}. */
    private static Set<String> specialTokens(GgufMetadata metadata, String[] tokens) {
        Set<String> out = new HashSet<>();
        if (metadata.has(TOKEN_TYPES)) {
            int[] types = metadata.getIntArray(TOKEN_TYPES);
            for (int i = 0; i < Math.min(types.length, tokens.length); i++) {
                if (types[i] == TYPE_CONTROL || types[i] == TYPE_USER_DEFINED) {
                    out.add(tokens[i]);
                }
            }
        } else {
            for (String t : tokens) {
                if (t.length() > 2 && ((t.startsWith("<") && t.endsWith(">")) || (t.startsWith("[") && t.endsWith("]")))) {
                    out.add(t);
                }
            }
        }
        return out;
    }
}

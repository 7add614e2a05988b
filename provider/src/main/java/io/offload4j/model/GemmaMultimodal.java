package io.offload4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.offload4j.gguf.ModelFormatException;
import java.nio.file.Path;
import java.util.Map;

/**
 * The text model of a multimodal Gemma 3 directory ({@code Gemma3ForConditionalGeneration}: Gemma 3 4B, 12B and 27B
 * as published). Its {@code config.json} nests the language model's keys in {@code text_config}, written as
 * transformers does, only where they differ from {@code Gemma3TextConfig}'s defaults, so those defaults fill the
 * rest; the result reads as a {@code Gemma3ForCausalLM} config. The weights sit under {@code model.language_model.}
 * (transformers 5) or {@code language_model.model.} (transformers 4) and are found there by
 * {@link HuggingFaceTensorSource}; the vision tower and projector are not loaded (this engine takes text only).
 */
final class GemmaMultimodal {

    static final String ARCHITECTURE = "Gemma3ForConditionalGeneration";

    /** Gemma3TextConfig's defaults (transformers), for the keys a saved text_config leaves out. */
    private static final Map<String, Object> TEXT_DEFAULTS = Map.ofEntries(
            Map.entry("vocab_size", 262_208), Map.entry("hidden_size", 2304), Map.entry("intermediate_size", 9216),
            Map.entry("num_hidden_layers", 26), Map.entry("num_attention_heads", 8),
            Map.entry("num_key_value_heads", 4), Map.entry("head_dim", 256),
            Map.entry("hidden_activation", "gelu_pytorch_tanh"), Map.entry("max_position_embeddings", 131_072),
            Map.entry("rms_norm_eps", 1e-6), Map.entry("sliding_window", 4096),
            Map.entry("tie_word_embeddings", true));
    // rope_theta (1e6), rope_local_base_freq (10000), query_pre_attn_scalar (256) and sliding_window_pattern (6)
    // default in GemmaConfigKeys, which also reads transformers 5's rope_parameters when those are given instead

    private GemmaMultimodal() {}

    static boolean isMultimodal(JsonNode root) {
        JsonNode list = root.get("architectures");
        if (list != null && list.isArray()) {
            for (JsonNode n : list) {
                if (n.asText().equals(ARCHITECTURE)) {
                    return true;
                }
            }
        }
        return false;
    }

    /** {@code root} itself, or for a multimodal Gemma 3 the config of its text model as a Gemma3ForCausalLM. */
    static JsonNode textRoot(Path file, JsonNode root) {
        if (!isMultimodal(root)) {
            return root;
        }
        JsonNode text = root.get("text_config");
        if (text == null || !text.isObject()) {
            throw new ModelFormatException(file, "key 'text_config' is " + (text == null ? "missing" : text.toString())
                    + "; a " + ARCHITECTURE + " config describes its language model there");
        }
        ObjectNode out = ((ObjectNode) text).deepCopy();
        TEXT_DEFAULTS.forEach((key, value) -> {
            if (!out.has(key)) {
                out.set(key, toNode(out, value));
            }
        });
        if (!text.has("tie_word_embeddings") && root.has("tie_word_embeddings")) {
            out.set("tie_word_embeddings", root.get("tie_word_embeddings"));
        }
        out.putArray("architectures").add("Gemma3ForCausalLM");
        out.put("model_type", "gemma3_text");
        return out;
    }

    private static JsonNode toNode(ObjectNode factory, Object value) {
        return switch (value) {
            case Integer i -> factory.numberNode(i);
            case Double d -> factory.numberNode(d);
            case Boolean b -> factory.booleanNode(b);
            case String s -> factory.textNode(s);
            default -> throw new IllegalArgumentException("default of type " + value.getClass());
        };
    }

    /** Where a multimodal checkpoint keeps its language model, and its lm_head, by transformers version. */
    static final String[][] TEXT_PREFIXES = {
        {"model.language_model.", "lm_head.weight"},
        {"language_model.model.", "language_model.lm_head.weight"}};

    /** Tensors of a multimodal checkpoint that a text model does not use. */
    static boolean isVisionTensor(String name) {
        return name.startsWith("vision_tower.") || name.startsWith("multi_modal_projector.")
                || name.startsWith("model.vision_tower.") || name.startsWith("model.multi_modal_projector.");
    }
}

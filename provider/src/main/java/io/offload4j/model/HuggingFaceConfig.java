package io.offload4j.model;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import io.offload4j.gguf.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A Hugging Face {@code config.json} of a supported decoder, read and checked with its own key names, and
 * translated into the GGUF metadata llama.cpp's converter would write for it — so that {@link ModelConfig}
 * interprets both formats with the same code. Both the transformers 4 ({@code rope_theta},
 * {@code rope_scaling}) and the transformers 5 ({@code rope_parameters}) spellings of RoPE are read.
 *
 * @param metadata          {@code general.*} and {@code <arch>.*} keys
 * @param vocabularySize    {@code vocab_size}: rows of the embedding
 * @param tiedEmbeddings    {@code tie_word_embeddings}
 * @param ropeFactors       Llama 3.1-style per-frequency divisors computed from {@code rope_scaling} of type
 *                          {@code llama3}, exactly as llama.cpp's converter computes its {@code rope_freqs} tensor; or null
 * @param longRopeShort     Phi-3's LongRoPE {@code short_factor} (the converter's {@code rope_factors_short}), or null
 * @param longRopeLong      its {@code long_factor} ({@code rope_factors_long}), or null
 */
record HuggingFaceConfig(Path file, Architecture architecture, GgufMetadata metadata, int vocabularySize,
                         boolean tiedEmbeddings, float[] ropeFactors, float[] longRopeShort, float[] longRopeLong) {

    /** {@code architectures[0]} values and {@code model_type}s this engine runs. */
    private static final Map<String, Architecture> ARCHITECTURES = Map.ofEntries(
            Map.entry("LlamaForCausalLM", Architecture.LLAMA),
            Map.entry("MistralForCausalLM", Architecture.LLAMA),
            Map.entry("MixtralForCausalLM", Architecture.LLAMA),
            Map.entry("Qwen2ForCausalLM", Architecture.QWEN2),
            Map.entry("Qwen3ForCausalLM", Architecture.QWEN3),
            Map.entry("Phi3ForCausalLM", Architecture.PHI3),
            Map.entry("Qwen2MoeForCausalLM", Architecture.QWEN2MOE),
            Map.entry("Qwen3MoeForCausalLM", Architecture.QWEN3MOE),
            // base models without an LM head, as embedding models (Qwen3-Embedding, gte-Qwen2) are saved
            Map.entry("Qwen2Model", Architecture.QWEN2),
            Map.entry("Qwen3Model", Architecture.QWEN3),
            Map.entry("Gemma2ForCausalLM", Architecture.GEMMA2),
            Map.entry("Gemma3ForCausalLM", Architecture.GEMMA3));
    private static final Map<String, Architecture> MODEL_TYPES = Map.ofEntries(
            Map.entry("llama", Architecture.LLAMA),
            Map.entry("mistral", Architecture.LLAMA),
            Map.entry("mixtral", Architecture.LLAMA),
            Map.entry("qwen2", Architecture.QWEN2),
            Map.entry("qwen3", Architecture.QWEN3),
            Map.entry("phi3", Architecture.PHI3),
            Map.entry("qwen2_moe", Architecture.QWEN2MOE),
            Map.entry("qwen3_moe", Architecture.QWEN3MOE),
            Map.entry("gemma2", Architecture.GEMMA2),
            Map.entry("gemma3_text", Architecture.GEMMA3));
    static final String SUPPORTED = "LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM,"
            + " Qwen3ForCausalLM, Phi3ForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, Gemma2ForCausalLM,"
            + " Gemma3ForCausalLM, Gemma3ForConditionalGeneration (its text model)";

    static HuggingFaceConfig read(Path file, String modelName) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(file, "is not valid JSON (" + ModelFormatException.jsonProblem(e) + ")", e);
        } catch (IOException e) {
            throw new ModelFormatException(file, "cannot be read: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw new ModelFormatException(file, "is not a JSON object; expected a transformers model config");
        }
        return new Reader(file, GemmaMultimodal.textRoot(file, root)).read(modelName);
    }

    /** Reads the keys, each error naming the key and what was found. */
    record Reader(Path file, JsonNode root) {

        HuggingFaceConfig read(String modelName) {
            Architecture arch = architecture();
            String family = architectureName();
            if (arch.isGemma()) {
                GemmaConfigKeys.checkActivation(this, family);
            } else {
                String act = string("hidden_act", "silu");
                if (!act.equals("silu")) {
                    throw fail("key 'hidden_act' is '" + act + "'; " + family + " models run here use silu (SwiGLU)");
                }
            }
            if (bool("mlp_bias", false)) {
                throw fail("key 'mlp_bias' is true; MLP biases are not supported");
            }
            if (!arch.hasQkvBias() && bool("attention_bias", false)) {
                throw fail("key 'attention_bias' is true; attention biases are supported only for Qwen2ForCausalLM"
                        + " and Qwen2MoeForCausalLM");
            }
            int hidden = positive("hidden_size");
            int ffn = positive("intermediate_size");
            int layers = positive("num_hidden_layers");
            int heads = positive("num_attention_heads");
            int kvHeads = has("num_key_value_heads") ? positive("num_key_value_heads") : heads;
            if (heads % kvHeads != 0) {
                throw fail("key 'num_attention_heads' (" + heads + ") is not a multiple of 'num_key_value_heads' ("
                        + kvHeads + ")");
            }
            int headDim;
            if (has("head_dim")) {
                headDim = positive("head_dim");
            } else if (hidden % heads != 0) {
                throw fail("key 'hidden_size' (" + hidden + ") is not a multiple of 'num_attention_heads' (" + heads
                        + ") and no 'head_dim' is given");
            } else {
                headDim = hidden / heads;
            }
            if (headDim % 2 != 0) {
                throw fail("the head size is " + headDim + "; RoPE needs an even head size");
            }
            int ropeDims = ropeDimensions(arch, headDim);
            int vocab = positive("vocab_size");
            int context = has("max_position_embeddings") ? positive("max_position_embeddings") : 2048;
            // Gemma's windows are its own (some blocks local, some global): GemmaConfigKeys writes them below.
            int window = arch.isGemma() ? 0 : slidingWindow(arch, layers);
            float eps = (float) number("rms_norm_eps", 1e-6);
            if (!(eps > 0)) {
                throw fail("key 'rms_norm_eps' is " + eps + "; expected a positive number");
            }
            boolean tied = bool("tie_word_embeddings", false);

            String a = arch.ggufName();
            Map<String, GgufMetadata.Entry> m = new LinkedHashMap<>();
            put(m, "general.architecture", GgufValueType.STRING, a);
            put(m, "general.name", GgufValueType.STRING, modelName);
            put(m, "general.source.format", GgufValueType.STRING, "safetensors (Hugging Face " + family + ")");
            put(m, a + ".context_length", GgufValueType.UINT32, (long) context);
            put(m, a + ".embedding_length", GgufValueType.UINT32, (long) hidden);
            put(m, a + ".block_count", GgufValueType.UINT32, (long) layers);
            put(m, a + ".feed_forward_length", GgufValueType.UINT32, (long) ffn);
            put(m, a + ".attention.head_count", GgufValueType.UINT32, (long) heads);
            put(m, a + ".attention.head_count_kv", GgufValueType.UINT32, (long) kvHeads);
            put(m, a + ".attention.key_length", GgufValueType.UINT32, (long) headDim);
            put(m, a + ".attention.value_length", GgufValueType.UINT32, (long) headDim);
            put(m, a + ".rope.dimension_count", GgufValueType.UINT32, (long) ropeDims);
            put(m, a + ".attention.layer_norm_rms_epsilon", GgufValueType.FLOAT32, eps);
            if (!bool("is_causal", true)) {
                // gte-Qwen2-style embedding models trained with bidirectional attention say so with this key (their
                // remote modeling code reads it); llama.cpp's key for the same, which the embedding runtime reads
                put(m, a + ".attention.causal", GgufValueType.BOOL, false);
            }
            experts(m, a, arch, family, ffn);
            if (window > 0) {
                // llama (Mistral) and phi3: computed as sliding-window attention; Qwen's: carried, and the engine
                // refuses contexts longer than the window (see ModelConfig.slidingWindow)
                put(m, a + ".attention.sliding_window", GgufValueType.UINT32, (long) window);
            }
            float[][] factors = new float[3][];
            if (arch.isGemma()) {
                GemmaConfigKeys.write(this, m, a, arch, layers); // no frequency factors
            } else {
                rope(m, a, arch, ropeDims, context, factors);
            }
            return new HuggingFaceConfig(file, arch, new GgufMetadata(file, m), vocab, tied, factors[0], factors[1],
                    factors[2]);
        }

        /**
         * The rotated dimensions of each head: all, or for Phi-3 (Phi-4-mini: 0.75) {@code partial_rotary_factor}
         * of them, as transformers computes it ({@code int(head_dim * factor)}).
         */
        private int ropeDimensions(Architecture arch, int headDim) {
            JsonNode params = object("rope_parameters"); // transformers 5 keeps the factor there
            JsonNode partial = value("partial_rotary_factor");
            if (partial == null && params != null && params.has("partial_rotary_factor")
                    && !params.get("partial_rotary_factor").isNull()) {
                partial = params.get("partial_rotary_factor");
            }
            if (partial == null || partial.asDouble() == 1.0) {
                return headDim;
            }
            if (arch != Architecture.PHI3) {
                throw fail("key 'partial_rotary_factor' is " + partial + "; partial rotary embeddings are supported"
                        + " for Phi3ForCausalLM only (1.0 elsewhere)");
            }
            double f = partial.asDouble();
            int dims = (int) (headDim * f);
            if (!partial.isNumber() || !(f > 0) || f > 1 || dims < 2 || dims % 2 != 0) {
                throw fail("key 'partial_rotary_factor' is " + partial + "; expected a number in (0, 1] that leaves"
                        + " an even number of the " + headDim + " head dimensions rotated");
            }
            return dims;
        }

        /**
         * The mixture-of-experts keys, as llama.cpp's converter writes them: Mixtral's {@code num_local_experts}
         * (its {@code intermediate_size} is each expert's), Qwen-MoE's {@code num_experts},
         * {@code moe_intermediate_size} and (Qwen2-MoE) {@code shared_expert_intermediate_size};
         * {@code num_experts_per_tok} for all. {@code norm_topk_prob} (Qwen; default false as in transformers)
         * becomes {@code expert_weights_norm}; Mixtral always renormalises. Which Qwen blocks are sparse
         * ({@code decoder_sparse_step}, {@code mlp_only_layers}) the checkpoint's tensors tell: a block with a
         * router is sparse, one with {@code mlp.gate_proj} dense.
         */
        private void experts(Map<String, GgufMetadata.Entry> m, String a, Architecture arch, String family, int ffn) {
            boolean mixtral = family.equals("MixtralForCausalLM") || family.equals("mixtral");
            if (!arch.isMixtureOfExperts() && !mixtral) {
                if (has("num_local_experts") || has("num_experts")) {
                    throw fail("key '" + (has("num_experts") ? "num_experts" : "num_local_experts") + "' is set, but "
                            + family + " is not a mixture-of-experts architecture here; expected "
                            + "MixtralForCausalLM, Qwen2MoeForCausalLM or Qwen3MoeForCausalLM");
                }
                return;
            }
            // Mixtral and transformers 5's Qwen3-MoE say num_local_experts; Qwen2-MoE (and older Qwen3-MoE) num_experts.
            int experts = positive(!mixtral && has("num_experts") ? "num_experts" : "num_local_experts");
            int used = positive("num_experts_per_tok");
            if (used > experts) {
                throw fail("key 'num_experts_per_tok' (" + used + ") is larger than the number of experts ("
                        + experts + ")");
            }
            put(m, a + ".expert_count", GgufValueType.UINT32, (long) experts);
            put(m, a + ".expert_used_count", GgufValueType.UINT32, (long) used);
            put(m, a + ".expert_feed_forward_length", GgufValueType.UINT32,
                    (long) (mixtral ? ffn : positive("moe_intermediate_size")));
            if (arch == Architecture.QWEN2MOE) {
                put(m, a + ".expert_shared_feed_forward_length", GgufValueType.UINT32,
                        (long) positive("shared_expert_intermediate_size"));
            }
            put(m, a + ".expert_weights_norm", GgufValueType.BOOL, mixtral || bool("norm_topk_prob", false));
        }

        /**
         * Base frequency and scaling: {@code rope_theta}/{@code rope_scaling} (transformers 4) or
         * {@code rope_parameters} (transformers 5). Puts llama3 frequency factors into {@code factors[0]}, LongRoPE's
         * short and long ones into {@code factors[1]} and {@code factors[2]}.
         */
        private void rope(Map<String, GgufMetadata.Entry> m, String a, Architecture arch, int headDim, int context,
                          float[][] factors) {
            JsonNode params = object("rope_parameters");
            JsonNode scaling = object("rope_scaling");
            String scalingKey = params != null && (params.has("rope_type") || params.has("type")) ? "rope_parameters"
                    : "rope_scaling";
            JsonNode s = scalingKey.equals("rope_parameters") ? params : scaling;
            double theta = has("rope_theta") ? number("rope_theta", 10000)
                    : params != null && params.has("rope_theta") ? nested(params, "rope_parameters", "rope_theta")
                    : scaling != null && scaling.has("rope_theta") ? nested(scaling, "rope_scaling", "rope_theta") : 10000;
            if (!(theta > 0)) {
                throw fail("the RoPE base (rope_theta) is " + theta + "; expected a positive number");
            }
            put(m, a + ".rope.freq_base", GgufValueType.FLOAT32, (float) theta);
            String type = "default";
            if (s != null) {
                JsonNode t = s.has("rope_type") ? s.get("rope_type") : s.get("type");
                if (t != null && !t.isNull()) {
                    type = t.asText().toLowerCase(Locale.ROOT);
                }
            }
            switch (type) {
                case "default" -> {
                }
                case "longrope", "su" -> {
                    if (arch != Architecture.PHI3) {
                        throw fail("key '" + scalingKey + "' has rope type '" + type + "', which belongs to Phi-3"
                                + " models, not " + architectureName());
                    }
                    longRope(m, a, s, scalingKey, headDim, context, factors);
                }
                case "linear" -> {
                    double factor = nested(s, scalingKey, "factor");
                    if (!(factor > 0)) {
                        throw fail("key '" + scalingKey + ".factor' is " + factor + "; expected a positive number");
                    }
                    put(m, a + ".rope.scaling.type", GgufValueType.STRING, "linear");
                    put(m, a + ".rope.scaling.factor", GgufValueType.FLOAT32, (float) factor);
                }
                case "llama3" -> {
                    if (arch != Architecture.LLAMA) {
                        throw fail("key '" + scalingKey + "' has rope type 'llama3', which belongs to Llama models, not "
                                + architectureName());
                    }
                    factors[0] = llama3Factors(s, scalingKey, theta, headDim);
                }
                default -> throw fail("key '" + scalingKey + "' has rope type '" + type + "'; supported: default,"
                        + " linear, llama3, longrope (su)");
            }
        }

        /**
         * Phi-3's LongRoPE as llama.cpp's converter and transformers read it: {@code short_factor} and
         * {@code long_factor} (one divisor per rotated pair), the pre-training context
         * ({@code original_max_position_embeddings}, at the top level or inside the RoPE object; else
         * {@code max_position_embeddings}) and the attention factor: {@code attention_factor} if given, else
         * √(1 + ln(s) / ln(original)) for s = max_position_embeddings / original above 1, else 1.
         */
        private void longRope(Map<String, GgufMetadata.Entry> m, String a, JsonNode s, String key, int ropeDims,
                              int context, float[][] factors) {
            factors[1] = factorList(s, key, "short_factor", ropeDims / 2);
            factors[2] = factorList(s, key, "long_factor", ropeDims / 2);
            int original = has("original_max_position_embeddings") ? positive("original_max_position_embeddings")
                    : s.has("original_max_position_embeddings")
                    ? (int) nested(s, key, "original_max_position_embeddings")
                    : PHI3_DEFAULT_ORIGINAL_CONTEXT;
            if (original < 1) {
                throw fail("key '" + key + ".original_max_position_embeddings' is " + original
                        + "; expected a positive integer");
            }
            double attention;
            if (s.has("attention_factor") && !s.get("attention_factor").isNull()) {
                attention = nested(s, key, "attention_factor");
            } else {
                double scale = (double) context / original;
                attention = scale <= 1 ? 1 : Math.sqrt(1 + Math.log(scale) / Math.log(original));
            }
            if (!(attention > 0)) {
                throw fail("key '" + key + ".attention_factor' is " + attention + "; expected a positive number");
            }
            put(m, a + ".rope.scaling.original_context_length", GgufValueType.UINT32, (long) original);
            put(m, a + ".rope.scaling.attn_factor", GgufValueType.FLOAT32, (float) attention);
        }

        /** transformers' Phi3Config default for {@code original_max_position_embeddings}. */
        private static final int PHI3_DEFAULT_ORIGINAL_CONTEXT = 4096;

        private float[] factorList(JsonNode s, String key, String name, int length) {
            JsonNode list = s.get(name);
            if (list == null || !list.isArray() || list.size() != length) {
                throw fail("key '" + key + "." + name + "' is " + (list == null ? "missing" : list.isArray()
                        ? "a list of " + list.size() + " numbers" : list.toString()) + "; expected a list of " + length
                        + " numbers (one per rotated pair of head dimensions)");
            }
            float[] f = new float[length];
            for (int i = 0; i < length; i++) {
                JsonNode v = list.get(i);
                if (!v.isNumber() || !(v.asDouble() > 0)) {
                    throw fail("key '" + key + "." + name + "[" + i + "]' is " + v + "; expected a positive number");
                }
                f[i] = (float) v.asDouble();
            }
            return f;
        }

        /**
         * Llama 3.1's per-frequency divisors: 1 for wavelengths below original/high_freq_factor, {@code factor}
         * above original/low_freq_factor, a smooth blend between — llama.cpp's converter writes these as
         * {@code rope_freqs.weight}, and transformers divides its inverse frequencies by the same numbers.
         */
        private float[] llama3Factors(JsonNode s, String key, double theta, int headDim) {
            double factor = nested(s, key, "factor");
            double low = s.has("low_freq_factor") ? nested(s, key, "low_freq_factor") : 1.0;
            double high = s.has("high_freq_factor") ? nested(s, key, "high_freq_factor") : 4.0;
            double original = s.has("original_max_position_embeddings")
                    ? nested(s, key, "original_max_position_embeddings") : 8192;
            if (!(factor > 0) || !(low > 0) || !(high > low) || !(original > 0)) {
                throw fail("key '" + key + "' (llama3) has factor " + factor + ", low_freq_factor " + low
                        + ", high_freq_factor " + high + ", original_max_position_embeddings " + original
                        + "; expected positive numbers with high_freq_factor > low_freq_factor");
            }
            double lowWavelength = original / low;
            double highWavelength = original / high;
            float[] f = new float[headDim / 2];
            for (int i = 0; i < f.length; i++) {
                double freq = 1.0 / Math.pow(theta, 2.0 * i / headDim);
                double wavelength = 2 * Math.PI / freq;
                if (wavelength < highWavelength) {
                    f[i] = 1f;
                } else if (wavelength > lowWavelength) {
                    f[i] = (float) factor;
                } else {
                    double smooth = (original / wavelength - low) / (high - low);
                    f[i] = (float) (1.0 / ((1 - smooth) / factor + smooth));
                }
            }
            return f;
        }

        /**
         * The attention window when some layer attends to a sliding window ({@code layer_types} of transformers 5,
         * Mistral's {@code sliding_window}, Qwen's {@code use_sliding_window} from layer {@code max_window_layers}
         * on), else 0.
         */
        private int slidingWindow(Architecture arch, int layers) {
            JsonNode window = value("sliding_window");
            if (window == null) {
                return 0;
            }
            JsonNode types = value("layer_types");
            boolean sliding;
            if (types != null && types.isArray()) {
                sliding = false;
                for (JsonNode t : types) {
                    sliding |= t.asText().equals("sliding_attention");
                }
            } else if (arch == Architecture.LLAMA || arch == Architecture.PHI3) {
                sliding = true; // MistralConfig, Phi3Config: a non-null sliding_window applies to every layer
            } else {
                sliding = bool("use_sliding_window", false)
                        && (!has("max_window_layers") || positive("max_window_layers") < layers);
            }
            return sliding ? positive("sliding_window") : 0;
        }

        private Architecture architecture() {
            JsonNode list = value("architectures");
            if (list != null && list.isArray()) {
                for (JsonNode n : list) {
                    Architecture a = ARCHITECTURES.get(n.asText());
                    if (a != null) {
                        return a;
                    }
                }
            }
            String type = has("model_type") ? string("model_type", "") : "";
            Architecture a = list == null || !list.isArray() || list.isEmpty() ? MODEL_TYPES.get(type) : null;
            if (a == null) {
                throw fail("key 'architectures' is " + (list == null ? "missing" : list.toString()) + " (model_type '"
                        + type + "'); this engine runs " + SUPPORTED);
            }
            return a;
        }

        String architectureName() {
            JsonNode list = value("architectures");
            if (list != null && list.isArray()) {
                for (JsonNode n : list) {
                    if (ARCHITECTURES.containsKey(n.asText())) {
                        return n.asText();
                    }
                }
            }
            return string("model_type", "llama");
        }

        JsonNode value(String key) {
            JsonNode v = root.get(key);
            return v == null || v.isNull() ? null : v;
        }

        boolean has(String key) {
            return value(key) != null;
        }

        JsonNode object(String key) {
            JsonNode v = value(key);
            if (v != null && !v.isObject()) {
                throw fail("key '" + key + "' is " + v + "; expected an object or null");
            }
            return v;
        }

        int positive(String key) {
            JsonNode v = value(key);
            if (v == null) {
                throw fail("key '" + key + "' is missing; a " + architectureName() + " config needs it");
            }
            if (!v.isNumber() || v.asDouble() != Math.rint(v.asDouble()) || v.asDouble() < 1
                    || v.asDouble() > Integer.MAX_VALUE) {
                throw fail("key '" + key + "' is " + v + "; expected a positive integer");
            }
            return v.asInt();
        }

        double number(String key, double defaultValue) {
            JsonNode v = value(key);
            if (v == null) {
                return defaultValue;
            }
            if (!v.isNumber()) {
                throw fail("key '" + key + "' is " + v + "; expected a number");
            }
            return v.asDouble();
        }

        double nested(JsonNode node, String parent, String key) {
            JsonNode v = node.get(key);
            if (v == null || !v.isNumber()) {
                throw fail("key '" + parent + "." + key + "' is " + (v == null ? "missing" : v.toString())
                        + "; expected a number");
            }
            return v.asDouble();
        }

        boolean bool(String key, boolean defaultValue) {
            JsonNode v = value(key);
            if (v == null) {
                return defaultValue;
            }
            if (!v.isBoolean()) {
                throw fail("key '" + key + "' is " + v + "; expected true or false");
            }
            return v.booleanValue();
        }

        String string(String key, String defaultValue) {
            JsonNode v = value(key);
            if (v == null) {
                return defaultValue;
            }
            if (!v.isTextual()) {
                throw fail("key '" + key + "' is " + v + "; expected a string");
            }
            return v.textValue();
        }

        ModelFormatException fail(String message) {
            return new ModelFormatException(file, message);
        }

        static void put(Map<String, GgufMetadata.Entry> m, String key, GgufValueType type, Object value) {
            m.put(key, new GgufMetadata.Entry(type, value));
        }
    }
}

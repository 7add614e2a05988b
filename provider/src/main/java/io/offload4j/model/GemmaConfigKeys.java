package io.offload4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.gguf.GgufArray;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.GgufValueType;
import java.util.Locale;
import java.util.Map;

/**
 * The keys of a Gemma 2 / Gemma 3 {@code config.json} beyond a llama's, as the GGUF metadata {@link ModelTraitsReader}
 * reads: which layers slide ({@code layer_types} of transformers 5, else {@code sliding_window_pattern} for Gemma 3,
 * else every other layer from the first for Gemma 2) and the window, the soft caps (absent = none, unlike a GGUF file
 * where llama.cpp's defaults apply), {@code query_pre_attn_scalar} as {@code attention.scale}, and the RoPE of global
 * layers ({@code rope_theta}, {@code rope_scaling}) and local ones ({@code rope_local_base_freq}), or both from
 * transformers 5's {@code rope_parameters} ({@code full_attention} / {@code sliding_attention}).
 */
final class GemmaConfigKeys {

    private GemmaConfigKeys() {}

    /** Gemma's FFN is GeGLU with the tanh GELU; a config asking for another activation is refused. */
    static void checkActivation(HuggingFaceConfig.Reader r, String family) {
        for (String key : new String[] {"hidden_activation", "hidden_act"}) {
            String act = r.string(key, "gelu_pytorch_tanh");
            if (!act.equals("gelu_pytorch_tanh") && !act.equals("gelu_tanh")) {
                throw r.fail("key '" + key + "' is '" + act + "'; " + family
                        + " models run here use gelu_pytorch_tanh (GeGLU with the tanh approximation)");
            }
        }
    }

    /** Writes the Gemma keys into {@code m}; returns null (no Llama 3.1-style frequency factors). */
    static float[] write(HuggingFaceConfig.Reader r, Map<String, GgufMetadata.Entry> m, String a, Architecture arch,
                         int layers) {
        boolean gemma3 = arch == Architecture.GEMMA3;
        if (r.bool("use_bidirectional_attention", false)) {
            throw r.fail("key 'use_bidirectional_attention' is true: an encoder (embedding) variant; this engine runs"
                    + " Gemma as a causal language model");
        }
        boolean[] sliding = slidingLayers(r, gemma3, layers);
        boolean anySliding = false;
        for (boolean s : sliding) {
            anySliding |= s;
        }
        if (anySliding) {
            HuggingFaceConfig.Reader.put(m, a + ".attention.sliding_window", GgufValueType.UINT32,
                    (long) (r.has("sliding_window") ? r.positive("sliding_window") : 4096));
            HuggingFaceConfig.Reader.put(m, a + ".attention.sliding_window_pattern", GgufValueType.ARRAY,
                    new GgufArray(GgufValueType.BOOL, sliding));
        } else if (gemma3) {
            HuggingFaceConfig.Reader.put(m, a + ".attention.sliding_window", GgufValueType.UINT32, 0L);
        }
        if (gemma3 && r.has("attn_logit_softcapping")) {
            throw r.fail("key 'attn_logit_softcapping' is " + r.value("attn_logit_softcapping")
                    + "; Gemma 3 has no attention soft-capping (expected null)");
        }
        HuggingFaceConfig.Reader.put(m, a + ".attn_logit_softcapping", GgufValueType.FLOAT32,
                (float) softcap(r, "attn_logit_softcapping"));
        HuggingFaceConfig.Reader.put(m, a + ".final_logit_softcapping", GgufValueType.FLOAT32,
                (float) softcap(r, "final_logit_softcapping"));
        double scalar = r.number("query_pre_attn_scalar", 256);
        if (!(scalar > 0)) {
            throw r.fail("key 'query_pre_attn_scalar' is " + scalar + "; expected a positive number");
        }
        HuggingFaceConfig.Reader.put(m, a + ".attention.scale", GgufValueType.FLOAT32, (float) Math.pow(scalar, -0.5));
        rope(r, m, a, gemma3);
        return null;
    }

    private static double softcap(HuggingFaceConfig.Reader r, String key) {
        double cap = r.number(key, 0);
        if (cap < 0) {
            throw r.fail("key '" + key + "' is " + cap + "; expected a positive number or null");
        }
        return cap;
    }

    private static boolean[] slidingLayers(HuggingFaceConfig.Reader r, boolean gemma3, int layers) {
        boolean[] sliding = new boolean[layers];
        if (!r.has("sliding_window")) {
            if (r.root().has("sliding_window")) { // explicitly null: no layer slides
                return sliding;
            }
        }
        JsonNode types = r.value("layer_types");
        if (types != null) {
            if (!types.isArray() || types.size() != layers) {
                throw r.fail("key 'layer_types' is " + types + "; expected one entry per layer (" + layers + ")");
            }
            for (int i = 0; i < layers; i++) {
                String t = types.get(i).asText();
                if (!t.equals("sliding_attention") && !t.equals("full_attention")) {
                    throw r.fail("key 'layer_types' entry " + i + " is '" + t
                            + "'; expected sliding_attention or full_attention");
                }
                sliding[i] = t.equals("sliding_attention");
            }
            return sliding;
        }
        int period = gemma3 ? (r.has("sliding_window_pattern") ? r.positive("sliding_window_pattern") : 6) : 2;
        for (int i = 0; i < layers; i++) {
            sliding[i] = (i + 1) % period != 0; // transformers: layer i is global when (i + 1) % pattern == 0
        }
        return sliding;
    }

    private static void rope(HuggingFaceConfig.Reader r, Map<String, GgufMetadata.Entry> m, String a, boolean gemma3) {
        JsonNode params = r.object("rope_parameters");
        JsonNode global;
        JsonNode local;
        String globalKey;
        double globalTheta;
        double localTheta;
        if (params != null && params.has("full_attention")) {
            global = params.get("full_attention");
            local = params.get("sliding_attention");
            globalKey = "rope_parameters.full_attention";
            globalTheta = global.has("rope_theta") ? r.nested(global, globalKey, "rope_theta") : gemma3 ? 1e6 : 1e4;
            localTheta = local != null && local.has("rope_theta")
                    ? r.nested(local, "rope_parameters.sliding_attention", "rope_theta") : globalTheta;
            if (local != null) {
                String localType = type(local);
                if (!localType.equals("default")) {
                    throw r.fail("key 'rope_parameters.sliding_attention' has rope type '" + localType
                            + "'; sliding layers here use the default RoPE");
                }
            }
        } else {
            global = params != null ? params : r.object("rope_scaling");
            globalKey = params != null ? "rope_parameters" : "rope_scaling";
            double defaultTheta = gemma3 ? 1e6 : 1e4;
            globalTheta = r.has("rope_theta") ? r.number("rope_theta", defaultTheta)
                    : params != null && params.has("rope_theta") ? r.nested(params, "rope_parameters", "rope_theta")
                    : defaultTheta;
            localTheta = gemma3 ? r.number("rope_local_base_freq", 10000) : globalTheta;
        }
        if (!(globalTheta > 0) || !(localTheta > 0)) {
            throw r.fail("the RoPE bases (rope_theta " + globalTheta + ", local " + localTheta
                    + ") must be positive numbers");
        }
        HuggingFaceConfig.Reader.put(m, a + ".rope.freq_base", GgufValueType.FLOAT32, (float) globalTheta);
        HuggingFaceConfig.Reader.put(m, a + ".rope.freq_base_swa", GgufValueType.FLOAT32, (float) localTheta);
        String type = global == null ? "default" : type(global);
        switch (type) {
            case "default" -> { }
            case "linear" -> {
                double factor = r.nested(global, globalKey, "factor");
                if (!(factor > 0)) {
                    throw r.fail("key '" + globalKey + ".factor' is " + factor + "; expected a positive number");
                }
                HuggingFaceConfig.Reader.put(m, a + ".rope.scaling.type", GgufValueType.STRING, "linear");
                HuggingFaceConfig.Reader.put(m, a + ".rope.scaling.factor", GgufValueType.FLOAT32, (float) factor);
            }
            default -> throw r.fail("key '" + globalKey + "' has rope type '" + type
                    + "'; supported for Gemma: default, linear");
        }
    }

    private static String type(JsonNode s) {
        JsonNode t = s.has("rope_type") ? s.get("rope_type") : s.get("type");
        return t == null || t.isNull() ? "default" : t.asText().toLowerCase(Locale.ROOT);
    }
}

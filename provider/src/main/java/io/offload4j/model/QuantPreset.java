package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * Which storage format each tensor of a synthetic model gets, mirroring llama.cpp's
 * {@code llama-quantize} presets (the mixed K-quant presets give some tensors more bits).
 */
public enum QuantPreset {
    F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q6_K,
    /** llama.cpp's Q4_K_M: Q4_K, with Q6_K for the output and for attn_v/ffn_down in "more bits" layers. */
    Q4_K_M,
    /** llama.cpp's Q5_K_M: Q5_K, with Q6_K for the output and for attn_v/ffn_down in "more bits" layers. */
    Q5_K_M;

    /** The format of the tensor named {@code name} (GGUF naming) in block {@code layer} of {@code layers}. */
    public GgmlType typeOf(String name, int layer, int layers) {
        if (name.endsWith("norm.weight") || name.endsWith(".bias") || name.equals("rope_freqs.weight")
                || name.startsWith("rope_factors_")) {
            return GgmlType.F32;
        }
        return switch (this) {
            case F32 -> GgmlType.F32;
            case F16 -> GgmlType.F16;
            case BF16 -> GgmlType.BF16;
            case Q8_0 -> GgmlType.Q8_0;
            case Q4_0 -> name.equals("output.weight") ? GgmlType.Q6_K : GgmlType.Q4_0;
            case Q4_1 -> name.equals("output.weight") ? GgmlType.Q6_K : GgmlType.Q4_1;
            case Q6_K -> GgmlType.Q6_K;
            case Q4_K_M -> kMixed(name, layer, layers, GgmlType.Q4_K);
            case Q5_K_M -> kMixed(name, layer, layers, GgmlType.Q5_K);
        };
    }

    private static GgmlType kMixed(String name, int layer, int layers, GgmlType base) {
        if (name.equals("output.weight")) {
            return GgmlType.Q6_K;
        }
        boolean moreBits = layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
        // ffn_down_exps / ffn_down_shexp / ffn_down.E of a mixture of experts count as ffn_down, as in llama.cpp.
        if ((name.endsWith("attn_v.weight") || name.endsWith("ffn_down.weight") || name.contains(".ffn_down_")
                || name.matches(".*\\.ffn_down\\.\\d+\\.weight")) && moreBits) {
            return GgmlType.Q6_K;
        }
        return base;
    }

    /** Parses "q4_k_m", "Q8_0", "f16" ...; the error lists the choices. */
    public static QuantPreset parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown quantization '" + s + "'; choose one of "
                    + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")));
        }
    }
}

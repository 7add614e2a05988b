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
    Q5_K_M,
    /** Q5_0 everywhere but the output (Q6_K), as llama.cpp's Q5_0. */
    Q5_0,
    /** Q5_1 everywhere but the output (Q6_K), as llama.cpp's Q5_1. */
    Q5_1,
    /** llama.cpp's Q2_K: Q2_K, with Q3_K for attn_v, attn_output and ffn_down, Q6_K for the output. */
    Q2_K,
    /** llama.cpp's Q3_K_M: Q3_K, with Q4_K for attn_output and ffn_down, Q5_K for attn_v in the first blocks, else Q4_K. */
    Q3_K_M,
    /** IQ4_NL everywhere but the output (Q6_K), as llama.cpp's IQ4_NL. */
    IQ4_NL,
    /** IQ4_XS everywhere but the output (Q6_K), as llama.cpp's IQ4_XS. */
    IQ4_XS;

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
            case Q5_0 -> name.equals("output.weight") ? GgmlType.Q6_K : GgmlType.Q5_0;
            case Q5_1 -> name.equals("output.weight") ? GgmlType.Q6_K : GgmlType.Q5_1;
            case IQ4_NL -> name.equals("output.weight") ? GgmlType.Q6_K : GgmlType.IQ4_NL;
            case IQ4_XS -> name.equals("output.weight") ? GgmlType.Q6_K : GgmlType.IQ4_XS;
            case Q2_K -> name.equals("output.weight") ? GgmlType.Q6_K
                    : name.endsWith("attn_v.weight") || name.endsWith("attn_output.weight")
                            || name.endsWith("ffn_down.weight") ? GgmlType.Q3_K : GgmlType.Q2_K;
            case Q3_K_M -> name.equals("output.weight") ? GgmlType.Q6_K
                    : name.endsWith("attn_v.weight") ? (layer < 2 ? GgmlType.Q5_K : GgmlType.Q4_K)
                    : name.endsWith("attn_output.weight") || name.endsWith("ffn_down.weight") ? GgmlType.Q4_K
                    : GgmlType.Q3_K;
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

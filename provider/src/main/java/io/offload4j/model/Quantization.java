package io.offload4j.model;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What quantize-at-load turns a model's F32/F16/BF16 matrices into (like bitsandbytes' {@code load_in_8bit} /
 * {@code load_in_4bit} for Hugging Face models), as llama.cpp's {@code llama-quantize} presets of the same names
 * would. Norms, biases and RoPE factors stay F32.
 */
public enum Quantization {
    /** Load the weights as they are. */
    NONE("none", null, 0),
    /** 8.5 bits per weight: blocks of 32 with one fp16 scale. The closest to the original. */
    Q8_0("q8_0", QuantPreset.Q8_0, 7),
    /**
     * About 4.8 bits per weight: llama.cpp's Q4_K_M mix (Q4_K, with Q6_K for the output head and for attn_v and
     * ffn_down in some blocks).
     */
    Q4_K("q4_k", QuantPreset.Q4_K_M, 15),
    /** 6.6 bits per weight: Q6_K everywhere. */
    Q6_K("q6_k", QuantPreset.Q6_K, 18);

    private final String optionName;
    private final QuantPreset preset;
    private final int llamaFileType;

    Quantization(String optionName, QuantPreset preset, int llamaFileType) {
        this.optionName = optionName;
        this.preset = preset;
        this.llamaFileType = llamaFileType;
    }

    /** How users write it: none, q8_0, q4_k, q6_k. */
    public String optionName() {
        return optionName;
    }

    /** The per-tensor formats (null for {@link #NONE}). */
    public QuantPreset preset() {
        return preset;
    }

    /** llama.cpp's {@code general.file_type} for the written GGUF (LLAMA_FTYPE_MOSTLY_*). */
    int llamaFileType() {
        return llamaFileType;
    }

    /** "none, q8_0, q4_k, q6_k" */
    public static String allowed() {
        return Arrays.stream(values()).map(Quantization::optionName).collect(Collectors.joining(", "));
    }

    /**
     * Parses a user's value (case-insensitive; "Q4_K_M" and "q4_k_m" are taken as q4_k, which is that mix; empty or
     * null is none).
     *
     * @param where the option as the user set it, for the message ("--quantize", "langchain4j.offload.quantization")
     * @throws IllegalArgumentException naming {@code where}, the value and the allowed values
     */
    public static Quantization parse(String value, String where) {
        if (value == null || value.isBlank()) {
            return NONE;
        }
        String v = value.trim().toLowerCase(Locale.ROOT);
        if (v.equals("q4_k_m")) {
            return Q4_K;
        }
        for (Quantization q : values()) {
            if (q.optionName.equals(v)) {
                return q;
            }
        }
        throw new IllegalArgumentException(where + " is '" + value + "'; allowed values: " + allowed()
                + " (quantize F16/BF16/F32 weights as they load; none keeps them)");
    }
}

package io.offload4j.model;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import java.nio.file.Path;
import java.util.Map;

/**
 * What is particular to nomic-bert (nomic-embed-text v1 / v1.5) when {@link EncoderModel} loads it: its GGUF rotary
 * keys, the Hugging Face {@code NomicBertModel} config (GPT-2-style key names, read here as llama.cpp's converter
 * reads them, without running the model's remote code) and its checkpoint's tensor names.
 *
 * <p>The block: fused QKV ({@code attn.Wqkv}, Q's rows first), rotary positions over each whole head in the
 * non-interleaved (NEOX) layout, output projection, residual, LayerNorm ({@code norm1}), SwiGLU feed-forward
 * {@code fc2(fc11(x) ⊙ silu(fc12(x)))}, residual, LayerNorm ({@code norm2}); no projection biases.
 */
final class NomicBertNames {

    static final String GGUF_ARCHITECTURE = "nomic-bert";
    static final String HF_MODEL_TYPE = "nomic_bert";

    /** llama.cpp's RoPE base where a GGUF names none. */
    private static final float LLAMA_CPP_DEFAULT_ROPE_BASE = 10_000f;

    /** GGUF name (block tensors without {@code blk.N.}) → the nomic checkpoint's name (block tensors without
     * {@code encoder.layers.N.}), as llama.cpp's tensor map pairs them. */
    private static final Map<String, String> TOP = Map.of(
            "token_embd.weight", "embeddings.word_embeddings.weight",
            "token_types.weight", "embeddings.token_type_embeddings.weight",
            "token_embd_norm.weight", "emb_ln.weight",
            "token_embd_norm.bias", "emb_ln.bias");
    private static final Map<String, String> BLOCK = Map.ofEntries(
            Map.entry("attn_qkv.weight", "attn.Wqkv.weight"),
            Map.entry("attn_qkv.bias", "attn.Wqkv.bias"),
            Map.entry("attn_output.weight", "attn.out_proj.weight"),
            Map.entry("attn_output.bias", "attn.out_proj.bias"),
            Map.entry("attn_output_norm.weight", "norm1.weight"),
            Map.entry("attn_output_norm.bias", "norm1.bias"),
            Map.entry("ffn_up.weight", "mlp.fc11.weight"),
            Map.entry("ffn_up.bias", "mlp.fc11.bias"),
            Map.entry("ffn_gate.weight", "mlp.fc12.weight"),
            Map.entry("ffn_down.weight", "mlp.fc2.weight"),
            Map.entry("ffn_down.bias", "mlp.fc2.bias"),
            Map.entry("layer_output_norm.weight", "norm2.weight"),
            Map.entry("layer_output_norm.bias", "norm2.bias"));

    private NomicBertNames() {}

    /**
     * {@code nomic-bert.rope.freq_base} (llama.cpp's 10000 when absent); a {@code rope.dimension_count} other than
     * the head dimension (a partial rotary) is refused.
     */
    static float ggufRotaryBase(Path path, GgufMetadata md, int headDim) {
        String dims = GGUF_ARCHITECTURE + ".rope.dimension_count";
        if (md.has(dims) && md.getInt(dims) != headDim) {
            throw new ModelFormatException(path, "key '" + dims + "' is " + md.getInt(dims) + "; nomic-bert here"
                    + " rotates whole heads (" + headDim + " dimensions)");
        }
        float base = md.getFloat(GGUF_ARCHITECTURE + ".rope.freq_base", LLAMA_CPP_DEFAULT_ROPE_BASE);
        if (!(base > 0) || Float.isInfinite(base)) {
            throw new ModelFormatException(path, "key '" + GGUF_ARCHITECTURE + ".rope.freq_base' is " + base
                    + "; expected a positive number");
        }
        return base;
    }

    /**
     * The encoder shape of a {@code NomicBertModel} config.json. The longest input is {@code max_trained_positions}
     * (2048 for v1 / v1.5, whose {@code n_positions} says 8192), as llama.cpp's converter sets it: beyond it the
     * model's own code would rescale its rotary frequencies, which is not done here. Options the v1 / v1.5 models do
     * not use (pre-norm, partial or interleaved rotary, mixture of experts (v2), other activations) are refused.
     */
    static EncoderConfig config(Path configFile, JsonNode c, String name) {
        if (c.path("moe_every_n_layers").asInt(0) > 0) {
            throw new ModelFormatException(configFile, "is a nomic-bert mixture of experts (moe_every_n_layers "
                    + c.path("moe_every_n_layers").asInt() + ", nomic-embed-text v2); supported encoders: BERT, RoBERTa,"
                    + " XLM-RoBERTa and nomic-bert v1 / v1.5 (dense)");
        }
        require(configFile, c, "activation_function", "swiglu");
        requireFalse(configFile, c, "prenorm");
        requireFalse(configFile, c, "causal");
        requireFalse(configFile, c, "rotary_emb_interleaved");
        requireFalse(configFile, c, "use_rms_norm");
        requireFalse(configFile, c, "parallel_block");
        double fraction = c.path("rotary_emb_fraction").asDouble(0);
        if (fraction != 1.0) {
            throw new ModelFormatException(configFile, "key 'rotary_emb_fraction' is " + c.get("rotary_emb_fraction")
                    + "; nomic-bert here rotates whole heads (1.0)");
        }
        if (c.hasNonNull("rotary_emb_scale_base")) {
            throw new ModelFormatException(configFile, "key 'rotary_emb_scale_base' is " + c.get("rotary_emb_scale_base")
                    + "; xPos-scaled rotary embeddings are not supported (null)");
        }
        int positions = EncoderModel.positive(configFile, c, "n_positions");
        int trained = c.path("max_trained_positions").asInt(0);
        float base = (float) c.path("rotary_emb_base").asDouble(1000);
        if (!(base > 0)) {
            throw new ModelFormatException(configFile, "key 'rotary_emb_base' is " + c.get("rotary_emb_base")
                    + "; expected a positive number");
        }
        return new EncoderConfig(name, EncoderConfig.Family.BERT,
                EncoderModel.positive(configFile, c, "vocab_size"), EncoderModel.positive(configFile, c, "n_embd"),
                EncoderModel.positive(configFile, c, "n_layer"), EncoderModel.positive(configFile, c, "n_head"),
                EncoderModel.positive(configFile, c, "n_inner"), trained > 0 ? Math.min(trained, positions) : positions,
                c.path("type_vocab_size").asInt(2),
                // GPT2Config's default, the class NomicBertConfig extends
                (float) c.path("layer_norm_epsilon").asDouble(1e-5), 0, false, 0, false, base);
    }

    /** The checkpoint's name of a GGUF tensor, under the checkpoint's {@code prefix} ("" for a bare model). */
    static String hfName(String prefix, String ggufName) {
        String top = TOP.get(ggufName);
        if (top != null) {
            return prefix + top;
        }
        if (ggufName.startsWith("blk.")) {
            int dot = ggufName.indexOf('.', 4);
            String rest = BLOCK.get(ggufName.substring(dot + 1));
            if (rest != null) {
                return prefix + "encoder.layers." + ggufName.substring(4, dot) + "." + rest;
            }
        }
        return ggufName;
    }

    private static void require(Path file, JsonNode c, String key, String expected) {
        String v = c.path(key).asText("");
        if (!v.equals(expected)) {
            throw new ModelFormatException(file, "key '" + key + "' is " + (c.has(key) ? c.get(key) : "missing")
                    + "; nomic-bert here needs '" + expected + "'");
        }
    }

    private static void requireFalse(Path file, JsonNode c, String key) {
        if (c.path(key).asBoolean(false)) {
            throw new ModelFormatException(file, "key '" + key + "' is true; nomic-embed-text v1 / v1.5 (false) are"
                    + " what is supported");
        }
    }
}

package io.offload4j.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.safetensors.SafetensorsDtype;
import io.offload4j.safetensors.SafetensorsWriter;
import io.offload4j.tokenizer.TokenizerJsonWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * One random model written twice: as the Hugging Face directory transformers' {@code save_pretrained} would
 * write (config.json, safetensors shards + index, tokenizer.json, tokenizer_config.json) and as the GGUF file
 * llama.cpp's {@code convert_hf_to_gguf.py} would make of it — same bytes for every matrix, llama's Q/K rows
 * permuted for adjacent-pair RoPE, norms and biases as F32, a llama3 {@code rope_scaling} as a
 * {@code rope_freqs.weight} tensor. Everything is derived from the spec and its seed.
 *
 * <p>Norm weights are random around 1 (not ones), so swapping two norms or dropping one shows in the logits.
 */
public final class TwinModels {

    /** How config.json spells RoPE. */
    public enum Rope { DEFAULT, LINEAR, LLAMA3, LLAMA3_TRANSFORMERS5, LONGROPE, LONGROPE_TRANSFORMERS5 }

    /**
     * @param headDim 0 = hidden / heads (no head_dim key in config.json)
     * @param shards  1 = model.safetensors, more = model-0000i-of-0000n.safetensors + index
     */
    public record Spec(Architecture arch, int hidden, int layers, int heads, int kvHeads, int headDim, int ffn, int vocab,
                       SafetensorsDtype dtype, boolean tied, int shards, Rope rope, long seed) {

        public int hd() {
            return headDim == 0 ? hidden / heads : headDim;
        }

        public Spec with(SafetensorsDtype d) {
            return new Spec(arch, hidden, layers, heads, kvHeads, headDim, ffn, vocab, d, tied, shards, rope, seed);
        }

        public Spec tied(boolean t) {
            return new Spec(arch, hidden, layers, heads, kvHeads, headDim, ffn, vocab, dtype, t, shards, rope, seed);
        }

        public Spec shards(int n) {
            return new Spec(arch, hidden, layers, heads, kvHeads, headDim, ffn, vocab, dtype, tied, n, rope, seed);
        }

        public Spec rope(Rope r) {
            return new Spec(arch, hidden, layers, heads, kvHeads, headDim, ffn, vocab, dtype, tied, shards, r, seed);
        }

        public Spec headDim(int d) {
            return new Spec(arch, hidden, layers, heads, kvHeads, d, ffn, vocab, dtype, tied, shards, rope, seed);
        }

        @Override
        public String toString() {
            return arch.ggufName() + " " + dtype + (tied ? " tied" : "") + " " + shards + " shard" + (shards > 1 ? "s" : "")
                    + (rope != Rope.DEFAULT ? " rope " + rope : "") + (headDim != 0 ? " head_dim " + headDim : "");
        }
    }

    public static final double ROPE_THETA = 10000;
    /** llama3 scaling made small enough that a 512-token model exercises all three regions of the factors. */
    public static final double LLAMA3_FACTOR = 8;
    public static final double LLAMA3_LOW = 1;
    public static final double LLAMA3_HIGH = 4;
    public static final int LLAMA3_ORIGINAL = 64;
    public static final double LINEAR_FACTOR = 2.5;

    private TwinModels() {}

    /** Phi-3's twins rotate 3/4 of each head, as Phi-4-mini ({@code partial_rotary_factor} 0.75). */
    public static final double PHI3_PARTIAL_ROTARY = 0.75;
    /** LongRoPE's pre-training context: below the 512 of max_position_embeddings, so the factors apply. */
    public static final int LONGROPE_ORIGINAL = 128;

    /** The dimensions of each head RoPE rotates. */
    public static int ropeDims(Spec s) {
        return s.arch() == Architecture.PHI3 ? (int) (s.hd() * PHI3_PARTIAL_ROTARY) : s.hd();
    }

    /** LongRoPE's short (near 1) and long divisors, one per rotated pair. */
    public static float[] longRopeFactors(Spec s, boolean longOnes) {
        float[] f = new float[ropeDims(s) / 2];
        for (int i = 0; i < f.length; i++) {
            f[i] = longOnes ? 1f + 3f * i : 1f + 0.03f * i;
        }
        return f;
    }

    /** √(1 + ln(512 / 128) / ln(128)), as transformers and the converter compute it. */
    public static double longRopeAttentionFactor() {
        return Math.sqrt(1 + Math.log(512.0 / LONGROPE_ORIGINAL) / Math.log(LONGROPE_ORIGINAL));
    }

    public static Spec tiny(Architecture arch) {
        return new Spec(arch, 64, 2, 4, 2, 0, 96, 320, SafetensorsDtype.F32, false, 1, Rope.DEFAULT, 11);
    }

    /** One tensor as transformers names and shapes it. */
    record Tensor(String hfName, String ggufName, int rows, int cols, Kind kind, int permuteHeads) {}

    enum Kind { MATRIX, NORM, BIAS }

    static List<Tensor> tensors(Spec s) {
        int q = s.heads() * s.hd();
        int kv = s.kvHeads() * s.hd();
        boolean llama = s.arch() == Architecture.LLAMA;
        List<Tensor> t = new ArrayList<>();
        t.add(new Tensor("model.embed_tokens.weight", "token_embd.weight", s.vocab(), s.hidden(), Kind.MATRIX, 0));
        for (int i = 0; i < s.layers(); i++) {
            String h = "model.layers." + i + ".";
            String g = "blk." + i + ".";
            t.add(new Tensor(h + "input_layernorm.weight", g + "attn_norm.weight", 1, s.hidden(), Kind.NORM, 0));
            if (s.arch() == Architecture.PHI3) {
                t.add(new Tensor(h + "self_attn.qkv_proj.weight", g + "attn_qkv.weight", q + 2 * kv, s.hidden(),
                        Kind.MATRIX, 0));
            } else {
                t.add(new Tensor(h + "self_attn.q_proj.weight", g + "attn_q.weight", q, s.hidden(), Kind.MATRIX,
                        llama ? s.heads() : 0));
                t.add(new Tensor(h + "self_attn.k_proj.weight", g + "attn_k.weight", kv, s.hidden(), Kind.MATRIX,
                        llama ? s.kvHeads() : 0));
                t.add(new Tensor(h + "self_attn.v_proj.weight", g + "attn_v.weight", kv, s.hidden(), Kind.MATRIX, 0));
            }
            t.add(new Tensor(h + "self_attn.o_proj.weight", g + "attn_output.weight", s.hidden(), q, Kind.MATRIX, 0));
            if (s.arch().hasQkvBias()) {
                t.add(new Tensor(h + "self_attn.q_proj.bias", g + "attn_q.bias", 1, q, Kind.BIAS, 0));
                t.add(new Tensor(h + "self_attn.k_proj.bias", g + "attn_k.bias", 1, kv, Kind.BIAS, 0));
                t.add(new Tensor(h + "self_attn.v_proj.bias", g + "attn_v.bias", 1, kv, Kind.BIAS, 0));
            }
            if (s.arch().hasQkNorm()) {
                t.add(new Tensor(h + "self_attn.q_norm.weight", g + "attn_q_norm.weight", 1, s.hd(), Kind.NORM, 0));
                t.add(new Tensor(h + "self_attn.k_norm.weight", g + "attn_k_norm.weight", 1, s.hd(), Kind.NORM, 0));
            }
            t.add(new Tensor(h + "post_attention_layernorm.weight", g + "ffn_norm.weight", 1, s.hidden(), Kind.NORM, 0));
            if (s.arch().hasFusedGateUp()) {
                t.add(new Tensor(h + "mlp.gate_up_proj.weight", g + "ffn_up.weight", 2 * s.ffn(), s.hidden(),
                        Kind.MATRIX, 0));
            } else {
                t.add(new Tensor(h + "mlp.gate_proj.weight", g + "ffn_gate.weight", s.ffn(), s.hidden(), Kind.MATRIX, 0));
                t.add(new Tensor(h + "mlp.up_proj.weight", g + "ffn_up.weight", s.ffn(), s.hidden(), Kind.MATRIX, 0));
            }
            t.add(new Tensor(h + "mlp.down_proj.weight", g + "ffn_down.weight", s.hidden(), s.ffn(), Kind.MATRIX, 0));
        }
        t.add(new Tensor("model.norm.weight", "output_norm.weight", 1, s.hidden(), Kind.NORM, 0));
        if (!s.tied()) {
            t.add(new Tensor("lm_head.weight", "output.weight", s.vocab(), s.hidden(), Kind.MATRIX, 0));
        }
        return t;
    }

    /** The tensor's values as stored (already rounded to the spec's dtype), row-major [rows × cols]. */
    static float[] values(Spec s, Tensor t) {
        SplittableRandom r = new SplittableRandom(s.seed() * 1_000_003L + t.hfName().hashCode());
        float[] v = new float[t.rows() * t.cols()];
        double bound = 1.0 / Math.sqrt(t.cols());
        for (int i = 0; i < v.length; i++) {
            double u = r.nextDouble() * 2 - 1;
            float x = switch (t.kind()) {
                case MATRIX -> (float) (u * bound * 1.7);
                case NORM -> (float) (1 + 0.3 * u);
                case BIAS -> (float) (0.2 * u);
            };
            v[i] = SafetensorsWriter.round(x, s.dtype());
        }
        return v;
    }

    /** llama.cpp's permutation of a Q/K matrix for adjacent-pair RoPE: row (h, j·d/2 + i) goes to row (h, 2i + j). */
    static float[] permuteForAdjacentPairs(float[] w, int rows, int cols, int heads) {
        int hd = rows / heads;
        int half = hd / 2;
        float[] out = new float[w.length];
        for (int h = 0; h < heads; h++) {
            for (int j = 0; j < 2; j++) {
                for (int i = 0; i < half; i++) {
                    int from = h * hd + j * half + i;
                    int to = h * hd + 2 * i + j;
                    System.arraycopy(w, from * cols, out, to * cols, cols);
                }
            }
        }
        return out;
    }

    /** Writes the Hugging Face directory (config, weights, tokenizer). */
    public static Path writeHuggingFace(Spec s, Path dir) {
        try {
            Files.createDirectories(dir);
            new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(dir.resolve("config.json").toFile(), config(s));
            List<Tensor> all = tensors(s);
            if (s.shards() == 1) {
                SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
                for (Tensor t : all) {
                    add(w, s, t);
                }
                w.write(dir.resolve("model.safetensors"));
            } else {
                Map<String, String> weightMap = new LinkedHashMap<>();
                long total = 0;
                for (int k = 0; k < s.shards(); k++) {
                    String name = String.format("model-%05d-of-%05d.safetensors", k + 1, s.shards());
                    SafetensorsWriter w = new SafetensorsWriter().metadata("format", "pt");
                    for (int i = k; i < all.size(); i += s.shards()) {
                        add(w, s, all.get(i));
                        weightMap.put(all.get(i).hfName(), name);
                        total += (long) all.get(i).rows() * all.get(i).cols() * s.dtype().bits() / 8;
                    }
                    w.write(dir.resolve(name));
                }
                new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(
                        dir.resolve("model.safetensors.index.json").toFile(),
                        Map.of("metadata", Map.of("total_size", total), "weight_map", weightMap));
            }
            writeTokenizer(s, dir);
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void add(SafetensorsWriter w, Spec s, Tensor t) {
        long[] shape = t.rows() == 1 ? new long[] {t.cols()} : new long[] {t.rows(), t.cols()};
        w.add(t.hfName(), s.dtype(), shape, SafetensorsWriter.encode(values(s, t), s.dtype()));
    }

    static Map<String, Object> config(Spec s) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("architectures", List.of(switch (s.arch()) {
            case LLAMA -> "LlamaForCausalLM";
            case QWEN2 -> "Qwen2ForCausalLM";
            case QWEN3 -> "Qwen3ForCausalLM";
            case PHI3 -> "Phi3ForCausalLM";
            default -> throw new IllegalArgumentException("TwinModels writes dense llama, qwen2, qwen3 and phi3"
                    + " models, not " + s.arch().ggufName() + " (Gemma's are checked against transformers' own files)");
        }));
        if (s.arch() == Architecture.PHI3) {
            c.put("partial_rotary_factor", PHI3_PARTIAL_ROTARY);
        }
        c.put("model_type", s.arch().ggufName());
        c.put("attention_bias", s.arch() == Architecture.QWEN2);
        c.put("bos_token_id", 1);
        c.put("eos_token_id", 2);
        c.put("hidden_act", "silu");
        c.put("hidden_size", s.hidden());
        if (s.headDim() != 0) {
            c.put("head_dim", s.headDim());
        }
        c.put("initializer_range", 0.02);
        c.put("intermediate_size", s.ffn());
        c.put("max_position_embeddings", 512);
        c.put("num_attention_heads", s.heads());
        c.put("num_hidden_layers", s.layers());
        c.put("num_key_value_heads", s.kvHeads());
        c.put("rms_norm_eps", 1e-5);
        Map<String, Object> llama3 = new LinkedHashMap<>();
        llama3.put("factor", LLAMA3_FACTOR);
        llama3.put("low_freq_factor", LLAMA3_LOW);
        llama3.put("high_freq_factor", LLAMA3_HIGH);
        llama3.put("original_max_position_embeddings", LLAMA3_ORIGINAL);
        switch (s.rope()) {
            case DEFAULT -> {
                c.put("rope_scaling", null);
                c.put("rope_theta", ROPE_THETA);
            }
            case LINEAR -> {
                c.put("rope_scaling", Map.of("type", "linear", "factor", LINEAR_FACTOR));
                c.put("rope_theta", ROPE_THETA);
            }
            case LLAMA3 -> {
                llama3.put("rope_type", "llama3");
                c.put("rope_scaling", llama3);
                c.put("rope_theta", ROPE_THETA);
            }
            case LLAMA3_TRANSFORMERS5 -> {
                llama3.put("rope_type", "llama3");
                llama3.put("rope_theta", ROPE_THETA);
                c.put("rope_parameters", llama3);
            }
            case LONGROPE -> { // Phi-3.5-mini's spelling: "type", the original context at the top level
                Map<String, Object> longRope = new LinkedHashMap<>();
                longRope.put("type", "longrope");
                longRope.put("short_factor", asList(longRopeFactors(s, false)));
                longRope.put("long_factor", asList(longRopeFactors(s, true)));
                c.put("rope_scaling", longRope);
                c.put("original_max_position_embeddings", LONGROPE_ORIGINAL);
                c.put("rope_theta", ROPE_THETA);
            }
            case LONGROPE_TRANSFORMERS5 -> {
                Map<String, Object> longRope = new LinkedHashMap<>();
                longRope.put("rope_type", "longrope");
                longRope.put("rope_theta", ROPE_THETA);
                longRope.put("short_factor", asList(longRopeFactors(s, false)));
                longRope.put("long_factor", asList(longRopeFactors(s, true)));
                longRope.put("original_max_position_embeddings", LONGROPE_ORIGINAL);
                c.put("rope_parameters", longRope);
            }
        }
        c.put("tie_word_embeddings", s.tied());
        c.put("dtype", s.dtype() == SafetensorsDtype.BF16 ? "bfloat16" : s.dtype() == SafetensorsDtype.F16 ? "float16"
                : "float32");
        c.put("transformers_version", "5.0.0");
        c.put("use_cache", true);
        c.put("vocab_size", s.vocab());
        return c;
    }

    private static List<Double> asList(float[] f) {
        List<Double> l = new ArrayList<>();
        for (float x : f) {
            l.add((double) x);
        }
        return l;
    }

    /** The SentencePiece vocabulary of {@link SyntheticModelWriter}, as tokenizer.json + tokenizer_config.json. */
    private static void writeTokenizer(Spec s, Path dir) throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        SyntheticModelWriter.writeVocabulary(w, s.vocab());
        byte[] header = w.header();
        try (GgufFile f = GgufFile.parse(Path.of("vocabulary"), MemorySegment.ofArray(header))) {
            String[] tokens = f.metadata().getStringArray("tokenizer.ggml.tokens");
            float[] scores = f.metadata().getFloatArray("tokenizer.ggml.scores");
            int[] types = f.metadata().getIntArray("tokenizer.ggml.token_type");
            TokenizerJsonWriter.write(TokenizerJsonWriter.sentencePiece(tokens, scores, types, 0, 1),
                    dir.resolve("tokenizer.json"));
        }
        Map<String, Object> tc = new LinkedHashMap<>();
        tc.put("add_bos_token", true);
        tc.put("add_eos_token", false);
        tc.put("bos_token", "<s>");
        tc.put("eos_token", "</s>");
        tc.put("unk_token", "<unk>");
        tc.put("chat_template", CHAT_TEMPLATE);
        tc.put("tokenizer_class", "LlamaTokenizer");
        new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(dir.resolve("tokenizer_config.json").toFile(), tc);
    }

    /** A small Llama 2-like template, rendered from tokenizer_config.json. */
    public static final String CHAT_TEMPLATE = "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'user' %}"
            + "[INST] {{ m['content'] }} [/INST]{% else %} {{ m['content'] }}{{ eos_token }}{% endif %}{% endfor %}";

    /**
     * Writes the GGUF conversion. {@code permuteQk} false writes llama's Q/K rows unpermuted — what a converter
     * that forgot the permutation would produce (the negative control).
     */
    public static Path writeGguf(Spec s, Path file, boolean permuteQk) {
        GgufWriter w = new GgufWriter();
        String a = s.arch().ggufName();
        w.putString("general.architecture", a);
        w.putString("general.name", "twin-" + a);
        w.putUInt32(a + ".context_length", 512);
        w.putUInt32(a + ".embedding_length", s.hidden());
        w.putUInt32(a + ".block_count", s.layers());
        w.putUInt32(a + ".feed_forward_length", s.ffn());
        w.putUInt32(a + ".attention.head_count", s.heads());
        w.putUInt32(a + ".attention.head_count_kv", s.kvHeads());
        w.putUInt32(a + ".attention.key_length", s.hd());
        w.putUInt32(a + ".attention.value_length", s.hd());
        w.putUInt32(a + ".rope.dimension_count", ropeDims(s));
        w.putFloat32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
        if (s.rope() == Rope.LONGROPE || s.rope() == Rope.LONGROPE_TRANSFORMERS5) {
            w.putUInt32(a + ".rope.scaling.original_context_length", LONGROPE_ORIGINAL);
            w.putFloat32(a + ".rope.scaling.attn_factor", (float) longRopeAttentionFactor());
            w.addF32("rope_factors_long.weight", new long[] {ropeDims(s) / 2}, longRopeFactors(s, true));
            w.addF32("rope_factors_short.weight", new long[] {ropeDims(s) / 2}, longRopeFactors(s, false));
        }
        w.putFloat32(a + ".rope.freq_base", (float) ROPE_THETA);
        if (s.rope() == Rope.LINEAR) {
            w.putString(a + ".rope.scaling.type", "linear");
            w.putFloat32(a + ".rope.scaling.factor", (float) LINEAR_FACTOR);
        }
        SyntheticModelWriter.writeVocabulary(w, s.vocab());
        GgmlType type = s.dtype().ggmlType().orElseThrow();
        for (Tensor t : tensors(s)) {
            float[] v = values(s, t);
            if (t.kind() != Kind.MATRIX) {
                w.addF32(t.ggufName(), new long[] {t.cols()}, v);
                continue;
            }
            if (t.permuteHeads() > 0 && permuteQk) {
                v = permuteForAdjacentPairs(v, t.rows(), t.cols(), t.permuteHeads());
            }
            byte[] bytes = SafetensorsWriter.encode(v, s.dtype());
            w.addTensor(t.ggufName(), type, new long[] {t.cols(), t.rows()},
                    dst -> MemorySegment.copy(MemorySegment.ofArray(bytes), 0, dst, 0, bytes.length));
        }
        if (s.rope() == Rope.LLAMA3 || s.rope() == Rope.LLAMA3_TRANSFORMERS5) {
            w.addF32("rope_freqs.weight", new long[] {s.hd() / 2}, llama3RopeFactors(s.hd()));
        }
        w.write(file);
        return file;
    }

    /** convert_hf_to_gguf.py's rope_freqs for rope_type llama3, written out for the test's constants. */
    static float[] llama3RopeFactors(int headDim) {
        float[] out = new float[headDim / 2];
        for (int i = 0; i < out.length; i++) {
            double invFreq = Math.pow(ROPE_THETA, -(2.0 * i) / headDim);
            double wavelen = 2 * Math.PI / invFreq;
            double highFreqWavelen = LLAMA3_ORIGINAL / LLAMA3_HIGH;
            double lowFreqWavelen = LLAMA3_ORIGINAL / LLAMA3_LOW;
            if (wavelen < highFreqWavelen) {
                out[i] = 1;
            } else if (wavelen > lowFreqWavelen) {
                out[i] = (float) LLAMA3_FACTOR;
            } else {
                double smooth = (LLAMA3_ORIGINAL / wavelen - LLAMA3_LOW) / (LLAMA3_HIGH - LLAMA3_LOW);
                out[i] = (float) (1 / ((1 - smooth) / LLAMA3_FACTOR + smooth));
            }
        }
        return out;
    }
}

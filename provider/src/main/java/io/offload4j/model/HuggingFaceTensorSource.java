package io.offload4j.model;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.safetensors.SafetensorsCheckpoint;
import io.offload4j.safetensors.SafetensorsDtype;
import io.offload4j.safetensors.SafetensorsTensorInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The tensors of a Hugging Face checkpoint under their GGUF names: {@code model.layers.N.self_attn.q_proj.weight}
 * is {@code blk.N.attn_q.weight}, and so on. A PyTorch {@code [out, in]} matrix is stored row after row exactly as
 * ggml's {@code [in, out]}, so F32/F16/BF16 tensors are used in place. Q and K rows stay in Hugging Face's order
 * (rotate-half RoPE); the model's {@link ModelConfig#ropeLayout()} says so instead of permuting them.
 * {@code lm_head.weight} is absent when the config ties it to the embedding, and a llama3 {@code rope_scaling}
 * appears as the {@code rope_freqs.weight} tensor llama.cpp's converter would write.
 */
final class HuggingFaceTensorSource implements TensorSource {

    private static final Pattern BLOCK = Pattern.compile("blk\\.(\\d+)\\.(.+)");
    private static final Map<String, String> TOP = Map.of(
            "token_embd.weight", "model.embed_tokens.weight",
            "output_norm.weight", "model.norm.weight",
            "output.weight", "lm_head.weight");
    private static final Map<String, String> IN_BLOCK = Map.ofEntries(
            Map.entry("attn_norm.weight", "input_layernorm.weight"),
            Map.entry("attn_q.weight", "self_attn.q_proj.weight"),
            Map.entry("attn_k.weight", "self_attn.k_proj.weight"),
            Map.entry("attn_v.weight", "self_attn.v_proj.weight"),
            Map.entry("attn_output.weight", "self_attn.o_proj.weight"),
            Map.entry("attn_q.bias", "self_attn.q_proj.bias"),
            Map.entry("attn_k.bias", "self_attn.k_proj.bias"),
            Map.entry("attn_v.bias", "self_attn.v_proj.bias"),
            Map.entry("attn_q_norm.weight", "self_attn.q_norm.weight"),
            Map.entry("attn_k_norm.weight", "self_attn.k_norm.weight"),
            Map.entry("ffn_norm.weight", "post_attention_layernorm.weight"),
            Map.entry("ffn_gate.weight", "mlp.gate_proj.weight"),
            Map.entry("ffn_up.weight", "mlp.up_proj.weight"),
            Map.entry("ffn_down.weight", "mlp.down_proj.weight"),
            Map.entry("attn_qkv.weight", "self_attn.qkv_proj.weight"));
    /** Phi-3's fused gate and up projection is GGUF's {@code ffn_up} of twice the rows (gate first, as in both). */
    private static final String PHI3_GATE_UP = "mlp.gate_up_proj.weight";
    /** Mixture-of-experts tensors of a Qwen-MoE block, under {@code model.layers.N.}. */
    private static final Map<String, String> QWEN_MOE = Map.of(
            "ffn_gate_inp.weight", "mlp.gate.weight",
            "ffn_gate_inp_shexp.weight", "mlp.shared_expert_gate.weight",
            "ffn_gate_shexp.weight", "mlp.shared_expert.gate_proj.weight",
            "ffn_up_shexp.weight", "mlp.shared_expert.up_proj.weight",
            "ffn_down_shexp.weight", "mlp.shared_expert.down_proj.weight");
    /** Per-expert tensors: {@code blk.N.ffn_gate.E.weight} and so on. */
    private static final Pattern EXPERT = Pattern.compile("(ffn_gate|ffn_up|ffn_down)\\.(\\d+)\\.weight");
    /**
     * Gemma's names where they differ from the map above: its post_attention_layernorm is a norm of the attention
     * output (llama.cpp: post_attention_norm), the FFN's pre-norm is pre_feedforward_layernorm.
     */
    private static final Map<String, String> GEMMA_IN_BLOCK = Map.of(
            "ffn_norm.weight", "pre_feedforward_layernorm.weight",
            "post_attention_norm.weight", "post_attention_layernorm.weight",
            "post_ffw_norm.weight", "post_feedforward_layernorm.weight");
    /** Buffers some transformers versions saved that carry nothing the engine needs. */
    private static final Pattern IGNORED = Pattern.compile(".*\\.rotary_emb\\.inv_freq");
    private static final String ROPE_FREQS = "rope_freqs.weight";

    private final SafetensorsCheckpoint checkpoint;
    private final HuggingFaceConfig config;
    private final MemorySegment ropeFactors;
    private final MemorySegment longRopeShort;
    private final MemorySegment longRopeLong;
    private final Set<String> used = new HashSet<>();
    /**
     * A base model saved on its own ({@code Qwen3Model.save_pretrained}: embedding models) names its tensors without
     * the {@code model.} prefix and has no LM head; the head is then the embedding (never used by an embedding model).
     */
    private final boolean baseModel;
    /** A multimodal Gemma 3's language model: where its "model." tensors and lm_head are; null otherwise. */
    private final String textPrefix;
    private final String textLmHead;

    HuggingFaceTensorSource(SafetensorsCheckpoint checkpoint, HuggingFaceConfig config) {
        this.checkpoint = checkpoint;
        this.config = config;
        this.baseModel = checkpoint.find("model.embed_tokens.weight").isEmpty()
                && checkpoint.find("embed_tokens.weight").isPresent() && checkpoint.find("lm_head.weight").isEmpty();
        String prefix = null;
        String lmHead = null;
        if (config.architecture() == Architecture.GEMMA3 && checkpoint.find("model.embed_tokens.weight").isEmpty()) {
            for (String[] p : GemmaMultimodal.TEXT_PREFIXES) {
                if (checkpoint.find(p[0] + "embed_tokens.weight").isPresent()) {
                    prefix = p[0];
                    lmHead = p[1];
                    break;
                }
            }
        }
        this.textPrefix = prefix;
        this.textLmHead = lmHead;
        ropeFactors = f32(config.ropeFactors());
        longRopeShort = f32(config.longRopeShort());
        longRopeLong = f32(config.longRopeLong());
    }

    /** A computed F32 vector tensor (what the converter would have written), or null. */
    private static MemorySegment f32(float[] f) {
        if (f == null) {
            return null;
        }
        MemorySegment m = Arena.ofAuto().allocate(4L * f.length, 4);
        MemorySegment.copy(f, 0, m, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, f.length);
        return m;
    }

    private static Tensor vector(MemorySegment m) {
        return m == null ? null : new Tensor(GgmlType.F32, new long[] {m.byteSize() / 4}, m);
    }

    @Override
    public Path path() {
        return checkpoint.directory();
    }

    @Override
    public Tensor find(String ggufName) {
        if (ggufName.equals(ROPE_FREQS)) {
            return vector(ropeFactors);
        }
        if (ggufName.equals(Model.LONG_ROPE_SHORT)) {
            return vector(longRopeShort);
        }
        if (ggufName.equals(Model.LONG_ROPE_LONG)) {
            return vector(longRopeLong);
        }
        if (ggufName.equals("output.weight") && (config.tiedEmbeddings() || baseModel)) {
            return null; // transformers ties lm_head to the embedding, whatever the file holds
        }
        String name = sourceName(ggufName);
        SafetensorsCheckpoint.Entry e = checkpoint.find(name).orElse(null);
        if (e == null) {
            if (ggufName.equals("output.weight")) {
                throw new ModelFormatException(path(), "tensor 'lm_head.weight' is missing from " + checkpoint.describe()
                        + ", and config.json says \"tie_word_embeddings\": false; download the complete checkpoint (or"
                        + " set tie_word_embeddings to true if the model really shares its embedding)");
            }
            return null;
        }
        used.add(name);
        SafetensorsTensorInfo info = e.info();
        GgmlType type = info.dtype().ggmlType().orElseThrow(() -> new ModelFormatException(e.file().path(),
                "tensor '" + name + "' is " + info.dtype() + "; supported dtypes: " + SafetensorsDtype.computableNames()
                        + " (convert the checkpoint, e.g. model.to(torch.bfloat16).save_pretrained(...), or use a GGUF"
                        + " quantization of it)"));
        Tensor tensor = new Tensor(type, reversed(info.shape()), e.data());
        if (config.architecture().isGemma() && ggufName.endsWith("norm.weight")) {
            return GemmaNorms.plusOne(tensor); // Gemma's RMSNorm scales by (1 + w); GGUF files store 1 + w
        }
        return tensor;
    }

    @Override
    public String sourceName(String ggufName) {
        String name = hfName(ggufName);
        if (textPrefix != null) { // a multimodal Gemma 3: its language model's tensors
            return name.equals("lm_head.weight") ? textLmHead
                    : name.startsWith("model.") ? textPrefix + name.substring("model.".length()) : name;
        }
        return baseModel && name.startsWith("model.") ? name.substring("model.".length()) : name;
    }

    private String hfName(String ggufName) {
        String top = TOP.get(ggufName);
        if (top != null) {
            return top;
        }
        Matcher m = BLOCK.matcher(ggufName);
        if (m.matches() && m.group(2).equals("ffn_up.weight") && config.architecture().hasFusedGateUp()) {
            return "model.layers." + m.group(1) + "." + PHI3_GATE_UP;
        }
        if (m.matches() && config.architecture().isGemma() && GEMMA_IN_BLOCK.containsKey(m.group(2))) {
            return "model.layers." + m.group(1) + "." + GEMMA_IN_BLOCK.get(m.group(2));
        }
        if (m.matches() && IN_BLOCK.containsKey(m.group(2))) {
            return "model.layers." + m.group(1) + "." + IN_BLOCK.get(m.group(2));
        }
        if (m.matches()) {
            String moe = expertName(m.group(2));
            if (moe != null) {
                return "model.layers." + m.group(1) + "." + moe;
            }
        }
        return ggufName;
    }

    /**
     * The Hugging Face name of a mixture-of-experts tensor inside a block: Mixtral's
     * {@code block_sparse_moe.gate} and {@code experts.E.w1/w3/w2} (gate, up, down), Qwen-MoE's {@code mlp.gate},
     * {@code mlp.experts.E.gate_proj/up_proj/down_proj} and its shared expert; null for other names.
     */
    private String expertName(String inBlock) {
        boolean mixtral = config.architecture() == Architecture.LLAMA;
        Matcher e = EXPERT.matcher(inBlock);
        if (e.matches()) {
            String kind = e.group(1);
            if (mixtral) {
                String w = kind.equals("ffn_gate") ? "w1" : kind.equals("ffn_up") ? "w3" : "w2";
                return "block_sparse_moe.experts." + e.group(2) + "." + w + ".weight";
            }
            return "mlp.experts." + e.group(2) + "." + kind.substring(4) + "_proj.weight";
        }
        if (mixtral) {
            return inBlock.equals("ffn_gate_inp.weight") ? "block_sparse_moe.gate.weight" : null;
        }
        return QWEN_MOE.get(inBlock);
    }

    @Override
    public String formatShape(long[] ggmlDims) {
        return Arrays.toString(reversed(ggmlDims));
    }

    @Override
    public String shapeNote() {
        return "(PyTorch order: rows first) from config.json; config.json and the weights disagree";
    }

    @Override
    public String missingHint(String ggufName) {
        return "not in " + checkpoint.describe() + "; an incomplete download, or a config.json of another model?";
    }

    /**
     * Refuses tensors the model did not use: a bias or norm the architecture lacks would otherwise be ignored
     * silently and the model would compute something else than it was trained to.
     */
    void checkEverythingUsed() {
        Set<String> unused = new TreeSet<>();
        for (String name : checkpoint.tensors().keySet()) {
            if (!used.contains(name) && !IGNORED.matcher(name).matches()
                    && !(name.equals(textLmHead != null ? textLmHead : "lm_head.weight") && config.tiedEmbeddings())
                    && !(textPrefix != null && GemmaMultimodal.isVisionTensor(name))) {
                unused.add(name);
            }
        }
        if (!unused.isEmpty()) {
            List<String> shown = unused.stream().limit(5).toList();
            throw new ModelFormatException(path(), (unused.size() == 1 ? "tensor " : unused.size() + " tensors, e.g. ")
                    + shown + (unused.size() == 1 ? " is" : " are") + " not part of a "
                    + config.architecture().ggufName() + " model as config.json describes it (" + checkpoint.describe()
                    + "); the checkpoint has weights this engine would ignore — is config.json from the same model,"
                    + " or is it a variant (biases, extra norms) that is not supported?");
        }
    }

    private static long[] reversed(long[] dims) {
        long[] r = new long[dims.length];
        for (int i = 0; i < dims.length; i++) {
            r[i] = dims[dims.length - 1 - i];
        }
        return r;
    }
}

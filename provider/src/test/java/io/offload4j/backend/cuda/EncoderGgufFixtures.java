package io.offload4j.backend.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import io.offload4j.safetensors.SafetensorsCheckpoint;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The transformers encoder fixtures ({@code hf-bert}, {@code hf-xlmr-reranker}) as GGUF files, converted the way
 * llama.cpp's converter does (as {@code embedding.EncoderGgufTest} does for F32), with the token table and every block
 * matrix stored in a chosen format (F16, Q8_0 …), so the GPU pass can be held to the CPU pass on quantized weights.
 * Vectors (norms, biases, positions, token types) and the classifier stay F32.
 */
final class EncoderGgufFixtures {

    private EncoderGgufFixtures() {}

    private static final Map<String, String> NAMES = Map.ofEntries(
            Map.entry("embeddings.word_embeddings.weight", "token_embd.weight"),
            Map.entry("embeddings.position_embeddings.weight", "position_embd.weight"),
            Map.entry("embeddings.token_type_embeddings.weight", "token_types.weight"),
            Map.entry("embeddings.LayerNorm.weight", "token_embd_norm.weight"),
            Map.entry("embeddings.LayerNorm.bias", "token_embd_norm.bias"),
            Map.entry("attention.self.query", "attn_q"), Map.entry("attention.self.key", "attn_k"),
            Map.entry("attention.self.value", "attn_v"), Map.entry("attention.output.dense", "attn_output"),
            Map.entry("attention.output.LayerNorm", "attn_output_norm"), Map.entry("intermediate.dense", "ffn_up"),
            Map.entry("output.dense", "ffn_down"), Map.entry("output.LayerNorm", "layer_output_norm"),
            Map.entry("classifier.dense", "cls"), Map.entry("classifier.out_proj", "cls.output"));

    /** hf-bert as a GGUF, matrices in {@code type}. */
    static Path bert(Path dir, GgmlType type, Path target) {
        JsonNode vocab = json(dir.resolve("tokenizer.json")).path("model").path("vocab");
        String[] tokens = new String[vocab.size()];
        vocab.properties().forEach(e -> {
            String t = e.getKey();
            tokens[e.getValue().asInt()] = t.startsWith("[") && t.endsWith("]") ? t
                    : t.startsWith("##") ? t.substring(2) : "\u2581" + t;
        });
        GgufWriter w = header(64, 2, 4, 128, 64);
        w.putString("tokenizer.ggml.model", "bert").putStrings("tokenizer.ggml.tokens", tokens)
                .putUInt32("bert.pooling_type", 1);
        convert(dir, "", 0, type, w).write(target);
        return target;
    }

    /** hf-xlmr-reranker as a GGUF, matrices in {@code type}. */
    static Path reranker(Path dir, GgmlType type, Path target) {
        JsonNode vocab = json(dir.resolve("tokenizer.json")).path("model").path("vocab");
        String[] pieces = new String[vocab.size()];
        float[] scores = new float[vocab.size()];
        for (int i = 0; i < pieces.length; i++) {
            pieces[i] = vocab.get(i).get(0).asText();
            scores[i] = (float) vocab.get(i).get(1).asDouble();
        }
        int offset = 2; // padding_idx 1 + 1
        GgufWriter w = header(64, 2, 4, 128, 80 - offset);
        w.putString("tokenizer.ggml.model", "t5").putStrings("tokenizer.ggml.tokens", pieces)
                .putFloats("tokenizer.ggml.scores", scores).putUInt32("tokenizer.ggml.unknown_token_id", 3)
                .putUInt32("tokenizer.ggml.cls_token_id", 0).putUInt32("tokenizer.ggml.seperator_token_id", 2)
                .putUInt32("bert.pooling_type", 4);
        convert(dir, "roberta.", offset, type, w).write(target);
        return target;
    }

    private static GgufWriter header(int dim, int layers, int heads, int ffn, int context) {
        return new GgufWriter().putString("general.architecture", "bert").putString("general.name", "converted")
                .putUInt32("bert.embedding_length", dim).putUInt32("bert.block_count", layers)
                .putUInt32("bert.attention.head_count", heads).putUInt32("bert.feed_forward_length", ffn)
                .putUInt32("bert.context_length", context).putFloat32("bert.attention.layer_norm_epsilon", 1e-12f)
                .putBool("bert.attention.causal", false);
    }

    private static GgufWriter convert(Path dir, String prefix, int positionOffset, GgmlType type, GgufWriter w) {
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            List<String> names = new ArrayList<>(ckpt.tensors().keySet());
            for (String hf : names) {
                String name = hf.startsWith(prefix) ? hf.substring(prefix.length()) : hf;
                String gguf = ggufName(name);
                if (gguf == null) {
                    continue; // a BertModel's pooler: llama.cpp drops it too
                }
                var e = ckpt.find(hf).orElseThrow();
                long[] shape = e.info().shape();
                long[] dims = new long[shape.length];
                for (int i = 0; i < shape.length; i++) {
                    dims[i] = shape[shape.length - 1 - i];
                }
                long skip = 0;
                if (gguf.equals("position_embd.weight")) {
                    skip = 4L * positionOffset * dims[0];
                    dims[1] -= positionOffset;
                }
                float[] values = e.data().asSlice(skip).toArray(ValueLayout.JAVA_FLOAT_UNALIGNED
                        .withOrder(ByteOrder.LITTLE_ENDIAN));
                boolean matrix = dims.length == 2 && gguf.endsWith(".weight")
                        && (gguf.equals("token_embd.weight") || gguf.startsWith("blk."));
                GgmlType t = matrix ? type : GgmlType.F32;
                int cols = (int) dims[0];
                int rows = values.length / cols;
                RowKernel kernel = CpuKernels.scalar(t);
                long rowBytes = t.bytesFor(cols);
                w.addTensor(gguf, t, dims, dst -> {
                    for (int r = 0; r < rows; r++) {
                        kernel.quantize(values, r * cols, dst, r * rowBytes, cols);
                    }
                });
            }
        }
        return w;
    }

    private static String ggufName(String name) {
        if (NAMES.containsKey(name)) {
            return NAMES.get(name);
        }
        Matcher m = Pattern.compile("encoder\\.layer\\.(\\d+)\\.(.+)\\.(weight|bias)").matcher(name);
        if (m.matches() && NAMES.containsKey(m.group(2))) {
            return "blk." + m.group(1) + "." + NAMES.get(m.group(2)) + "." + m.group(3);
        }
        m = Pattern.compile("(classifier\\.(?:dense|out_proj))\\.(weight|bias)").matcher(name);
        if (m.matches()) {
            return NAMES.get(m.group(1)) + "." + m.group(2);
        }
        return null;
    }

    private static JsonNode json(Path p) {
        try {
            return new ObjectMapper().readTree(p.toFile());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}

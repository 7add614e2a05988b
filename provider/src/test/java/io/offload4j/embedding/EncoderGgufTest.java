package io.offload4j.embedding;

import static io.offload4j.embedding.EmbeddingReferenceTest.assertCosine;
import static io.offload4j.embedding.EmbeddingReferenceTest.f32;
import static io.offload4j.embedding.EmbeddingReferenceTest.ints;
import static io.offload4j.embedding.EmbeddingReferenceTest.json;
import static io.offload4j.embedding.EmbeddingReferenceTest.resource;
import static io.offload4j.embedding.EmbeddingReferenceTest.strings;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.safetensors.SafetensorsCheckpoint;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GGUF path of the encoders: the transformers fixtures converted here the way llama.cpp's
 * {@code convert_hf_to_gguf.py} converts BERT and XLM-RoBERTa (architecture {@code bert}, its tensor names, the
 * WordPiece vocabulary in "phantom space" form, RoBERTa's first {@code padding_idx + 1} position rows dropped, the
 * classifier as {@code cls} / {@code cls.output}), then loaded as GGUF and held to the same references.
 */
class EncoderGgufTest {

    private static final EmbeddingOptions CPU = EmbeddingOptions.DEFAULTS.withDevice("cpu").withThreads(2);

    /** Hugging Face name (prefix stripped, block number as N) → GGUF name, as llama.cpp's tensor map has them. */
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

    @Test
    void bertGgufEmbedsLikeTheDirectory(@TempDir Path tmp) throws IOException {
        Path dir = resource("hf-bert");
        JsonNode vocab = json(dir.resolve("tokenizer.json")).path("model").path("vocab");
        String[] tokens = new String[vocab.size()];
        vocab.properties().forEach(e -> {
            String t = e.getKey();
            // llama.cpp's phantom-space vocabulary
            tokens[e.getValue().asInt()] = t.startsWith("[") && t.endsWith("]") ? t
                    : t.startsWith("##") ? t.substring(2) : "\u2581" + t;
        });
        GgufWriter w = header(64, 2, 4, 128, 64, 0);
        w.putString("tokenizer.ggml.model", "bert").putStrings("tokenizer.ggml.tokens", tokens)
                .putUInt32("bert.pooling_type", 1);
        Path gguf = tmp.resolve("bert.gguf");
        convert(dir, "", 0, w).write(gguf);

        JsonNode ref = json(dir.resolve("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        try (EncoderEmbedder bert = (EncoderEmbedder) TextEmbedders.load(gguf, CPU.withNormalize(true))) {
            assertEquals(Pooling.MEAN, bert.pooling(), "bert.pooling_type 1");
            for (int i = 0; i < texts.size(); i++) {
                assertArrayEquals(ints(ref.path("ids").get(i)), bert.tokenize(texts.get(i)), texts.get(i));
            }
            float[][] expected = f32(dir.resolve("ref-embed.f32"), texts.size(), 64);
            List<float[]> actual = bert.embed(texts);
            for (int i = 0; i < texts.size(); i++) {
                assertCosine(expected[i], actual.get(i), texts.get(i));
            }
        }
    }

    @Test
    void xlmRobertaRerankerGgufScoresLikeTheDirectory(@TempDir Path tmp) throws IOException {
        Path dir = resource("hf-xlmr-reranker");
        JsonNode vocab = json(dir.resolve("tokenizer.json")).path("model").path("vocab");
        String[] pieces = new String[vocab.size()];
        float[] scores = new float[vocab.size()];
        for (int i = 0; i < pieces.length; i++) {
            pieces[i] = vocab.get(i).get(0).asText();
            scores[i] = (float) vocab.get(i).get(1).asDouble();
        }
        int offset = 2; // padding_idx 1 + 1
        GgufWriter w = header(64, 2, 4, 128, 80 - offset, 0);
        w.putString("tokenizer.ggml.model", "t5").putStrings("tokenizer.ggml.tokens", pieces)
                .putFloats("tokenizer.ggml.scores", scores).putUInt32("tokenizer.ggml.unknown_token_id", 3)
                .putUInt32("tokenizer.ggml.cls_token_id", 0).putUInt32("tokenizer.ggml.seperator_token_id", 2)
                .putUInt32("bert.pooling_type", 4);
        Path gguf = tmp.resolve("reranker.gguf");
        convert(dir, "roberta.", offset, w).write(gguf);

        JsonNode ref = json(dir.resolve("ref-scores.json"));
        try (CrossEncoderScorer scorer = (CrossEncoderScorer) TextScorers.load(gguf, CPU, false, null)) {
            JsonNode pairs = ref.path("pairs");
            for (int i = 0; i < pairs.size(); i++) {
                String q = pairs.get(i).get(0).asText();
                String d = pairs.get(i).get(1).asText();
                assertArrayEquals(ints(ref.path("ids").get(i)), scorer.tokenize(q, d), "ids of pair " + i);
                assertEquals(ref.path("scores").get(i).asDouble(), scorer.score(q, List.of(d))[0], 1e-4, "pair " + i);
            }
        }
    }

    private static GgufWriter header(int dim, int layers, int heads, int ffn, int context, int unused) {
        return new GgufWriter().putString("general.architecture", "bert").putString("general.name", "converted")
                .putUInt32("bert.embedding_length", dim).putUInt32("bert.block_count", layers)
                .putUInt32("bert.attention.head_count", heads).putUInt32("bert.feed_forward_length", ffn)
                .putUInt32("bert.context_length", context).putFloat32("bert.attention.layer_norm_epsilon", 1e-12f)
                .putBool("bert.attention.causal", false);
    }

    /** Every tensor of the directory under its GGUF name (F32 as stored), RoBERTa's offset rows dropped. */
    private static GgufWriter convert(Path dir, String prefix, int positionOffset, GgufWriter w) {
        try (SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(dir)) {
            List<String> names = new ArrayList<>(ckpt.tensors().keySet());
            for (String hf : names) {
                String name = hf.startsWith(prefix) ? hf.substring(prefix.length()) : hf;
                String gguf = ggufName(name);
                if (gguf == null) {
                    continue; // the pooler of a BertModel: llama.cpp drops it too
                }
                var e = ckpt.find(hf).orElseThrow();
                long[] shape = e.info().shape();
                long[] dims = new long[shape.length];
                for (int i = 0; i < shape.length; i++) {
                    dims[i] = shape[shape.length - 1 - i];
                }
                MemorySegment data = e.data();
                long skip = 0;
                if (gguf.equals("position_embd.weight")) {
                    skip = 4L * positionOffset * dims[0];
                    dims[1] -= positionOffset;
                }
                byte[] bytes = data.asSlice(skip).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
                w.addTensor(gguf, GgmlType.F32, dims, dst -> MemorySegment.copy(MemorySegment.ofArray(bytes), 0, dst, 0,
                        bytes.length));
            }
        }
        return w;
    }

    private static String ggufName(String name) {
        if (NAMES.containsKey(name)) {
            return NAMES.get(name);
        }
        var m = java.util.regex.Pattern.compile("encoder\\.layer\\.(\\d+)\\.(.+)\\.(weight|bias)").matcher(name);
        if (m.matches() && NAMES.containsKey(m.group(2))) {
            return "blk." + m.group(1) + "." + NAMES.get(m.group(2)) + "." + m.group(3);
        }
        m = java.util.regex.Pattern.compile("(classifier\\.(?:dense|out_proj))\\.(weight|bias)").matcher(name);
        if (m.matches()) {
            return NAMES.get(m.group(1)) + "." + m.group(2);
        }
        return null;
    }
}

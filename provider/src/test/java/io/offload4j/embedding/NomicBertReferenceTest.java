package io.offload4j.embedding;

import static io.offload4j.embedding.EmbeddingReferenceTest.assertCosine;
import static io.offload4j.embedding.EmbeddingReferenceTest.ints;
import static io.offload4j.embedding.EmbeddingReferenceTest.json;
import static io.offload4j.embedding.EmbeddingReferenceTest.strings;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.gguf.GgufWriter;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.EncoderModel;
import io.offload4j.safetensors.SafetensorsDtype;
import io.offload4j.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * nomic-bert (nomic-embed-text v1 / v1.5) against llama.cpp: tiny random-weight GGUFs of architecture
 * {@code nomic-bert} (F32 and F16) written by llama.cpp's gguf-py, and the token ids and mean-pooled, unit-length
 * embeddings llama.cpp's {@code llama-tokenize} / {@code llama-embedding} print for them
 * ({@code tests/nomic/make-reference.sh}; {@code resources/nomic/README.md}). Rotary positions, the fused QKV, the
 * SwiGLU feed-forward and the absent biases all change these vectors: a swapped gate and up, or no rotation, gives
 * cosines far below the bound.
 */
class NomicBertReferenceTest {

    private static final EmbeddingOptions CPU = EmbeddingOptions.DEFAULTS.withDevice("cpu").withThreads(2);

    static Path nomic(String name) {
        try {
            return Path.of(NomicBertReferenceTest.class.getResource("/nomic/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny-nomic-bert-f32.gguf", "tiny-nomic-bert-f16.gguf"})
    void embedsAsLlamaCppDoes(String file) throws IOException {
        JsonNode ref = json(nomic("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        JsonNode vectors = ref.path("embeddings").path(file);
        assertEquals(texts.size(), vectors.size(), "reference vectors of " + file);
        try (EncoderEmbedder nomic = (EncoderEmbedder) TextEmbedders.load(nomic(file), CPU)) {
            assertEquals(Pooling.MEAN, nomic.pooling(), "nomic-bert.pooling_type 1");
            assertTrue(nomic.normalizes(), "a GGUF's vectors are unit length unless asked otherwise");
            assertEquals(64, nomic.dimension());
            for (int i = 0; i < texts.size(); i++) {
                assertArrayEquals(ints(ref.path("ids").get(i)), nomic.tokenize(texts.get(i)), texts.get(i));
            }
            // all texts packed into one pass, then each alone: a row's rotary position is its place in its own text
            List<float[]> together = nomic.embed(texts);
            for (int i = 0; i < texts.size(); i++) {
                float[] expected = floats(vectors.get(i));
                assertCosine(expected, together.get(i), file + " packed: " + texts.get(i));
                assertCosine(expected, nomic.embed(List.of(texts.get(i))).get(0), file + " alone: " + texts.get(i));
            }
        }
    }

    /**
     * The Hugging Face form: the F32 GGUF's tensors written back under the nomic checkpoint's names (llama.cpp's
     * tensor map read backwards: {@code emb_ln}, {@code encoder.layers.N.attn.Wqkv}, {@code mlp.fc11} = up,
     * {@code mlp.fc12} = gate, {@code norm1} / {@code norm2}) with nomic-embed-text-v1.5's config.json keys, the
     * fixture's tokenizer.json and a sentence-transformers mean-pooling + Normalize: llama.cpp's vectors again.
     */
    @Test
    void aNomicBertModelDirectoryEmbedsAsTheGgufDoes(@TempDir Path dir) throws IOException {
        Path bert = EmbeddingReferenceTest.resource("hf-bert");
        Files.copy(bert.resolve("tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.copy(bert.resolve("modules.json"), dir.resolve("modules.json"));
        Files.createDirectories(dir.resolve("1_Pooling"));
        Files.copy(bert.resolve("1_Pooling/config.json"), dir.resolve("1_Pooling/config.json"));
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["NomicBertModel"], "model_type": "nomic_bert", "activation_function": "swiglu",
                 "vocab_size": 273, "n_embd": 64, "n_head": 4, "n_layer": 2, "n_inner": 96, "n_positions": 8192,
                 "max_trained_positions": 128, "type_vocab_size": 2, "layer_norm_epsilon": 1e-12,
                 "rotary_emb_base": 1000, "rotary_emb_fraction": 1.0, "rotary_emb_interleaved": false,
                 "rotary_emb_scale_base": null, "rotary_scaling_factor": null, "prenorm": false, "causal": false,
                 "qkv_proj_bias": false, "mlp_fc1_bias": false, "mlp_fc2_bias": false, "use_rms_norm": false,
                 "parallel_block": false}
                """);
        SafetensorsWriter weights = new SafetensorsWriter();
        try (GgufFile gguf = GgufFile.open(nomic("tiny-nomic-bert-f32.gguf"))) {
            for (GgufTensorInfo t : gguf.tensors().values()) {
                long[] shape = new long[t.rank()];
                for (int i = 0; i < shape.length; i++) {
                    shape[i] = t.dim(shape.length - 1 - i);
                }
                weights.add(nomicName(t.name()), SafetensorsDtype.F32, shape,
                        gguf.tensorData(t).toArray(ValueLayout.JAVA_BYTE));
            }
        }
        Files.write(dir.resolve("model.safetensors"), weights.bytes());

        JsonNode ref = json(nomic("ref-embed.json"));
        List<String> texts = strings(ref.path("texts"));
        JsonNode vectors = ref.path("embeddings").path("tiny-nomic-bert-f32.gguf");
        try (EncoderEmbedder nomic = (EncoderEmbedder) TextEmbedders.load(dir, CPU)) {
            assertEquals(Pooling.MEAN, nomic.pooling(), "1_Pooling/config.json");
            List<float[]> actual = nomic.embed(texts);
            for (int i = 0; i < texts.size(); i++) {
                assertArrayEquals(ints(ref.path("ids").get(i)), nomic.tokenize(texts.get(i)), texts.get(i));
                assertCosine(floats(vectors.get(i)), actual.get(i), "directory: " + texts.get(i));
            }
        }
    }

    /** A GGUF name's nomic checkpoint name, as llama.cpp's gguf-py tensor map pairs them. */
    private static String nomicName(String gguf) {
        String top = switch (gguf) {
            case "token_embd.weight" -> "embeddings.word_embeddings.weight";
            case "token_types.weight" -> "embeddings.token_type_embeddings.weight";
            case "token_embd_norm.weight" -> "emb_ln.weight";
            case "token_embd_norm.bias" -> "emb_ln.bias";
            default -> null;
        };
        if (top != null) {
            return top;
        }
        String[] p = gguf.split("\\.", 3);   // blk, N, rest
        String rest = switch (p[2]) {
            case "attn_qkv.weight" -> "attn.Wqkv.weight";
            case "attn_output.weight" -> "attn.out_proj.weight";
            case "attn_output_norm.weight" -> "norm1.weight";
            case "attn_output_norm.bias" -> "norm1.bias";
            case "ffn_up.weight" -> "mlp.fc11.weight";
            case "ffn_gate.weight" -> "mlp.fc12.weight";
            case "ffn_down.weight" -> "mlp.fc2.weight";
            case "layer_output_norm.weight" -> "norm2.weight";
            case "layer_output_norm.bias" -> "norm2.bias";
            default -> throw new IllegalArgumentException("unexpected tensor " + gguf);
        };
        return "encoder.layers." + p[1] + "." + rest;
    }

    @Test
    void theConfigSaysRotaryPositionsAndTheLayersAGate() {
        try (EncoderModel m = EncoderModel.load(nomic("tiny-nomic-bert-f32.gguf"))) {
            assertEquals(1000f, m.config().rotaryBase(), "nomic-bert.rope.freq_base");
            assertEquals(128, m.config().maxTokens(), "nomic-bert.context_length");
            assertEquals(null, m.weights().positions(), "no position table");
            var layer = m.weights().layers().get(0);
            assertTrue(layer.gate() != null && layer.bq() == null && layer.bo() == null && layer.upBias() == null,
                    "SwiGLU, no projection biases");
        }
    }

    @Test
    void nomicBertMoeIsRefusedNamingWhatIsSupported(@TempDir Path tmp) {
        Path moe = tmp.resolve("moe.gguf");
        new GgufWriter().putString("general.architecture", "nomic-bert-moe").write(moe);
        assertTrue(EncoderModel.isEncoder(moe), "an encoder, so that the encoder loader explains the refusal");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> EncoderModel.load(moe));
        assertTrue(e.getMessage().contains("nomic-bert-moe") && e.getMessage().contains("[bert, nomic-bert]"),
                e.getMessage());
    }

    @Test
    void aNomicBertMoeDirectoryIsRefusedToo(@TempDir Path dir) throws IOException {
        Files.writeString(dir.resolve("config.json"), """
                {"architectures": ["NomicBertModel"], "model_type": "nomic_bert", "activation_function": "gelu",
                 "moe_every_n_layers": 2, "num_experts": 8, "n_embd": 64, "n_head": 4, "n_layer": 2}
                """);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> EncoderModel.load(dir));
        assertTrue(e.getMessage().contains("moe_every_n_layers") && e.getMessage().contains("nomic-bert v1 / v1.5"),
                e.getMessage());
    }

    private static float[] floats(JsonNode a) {
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) {
            f[i] = (float) a.get(i).asDouble();
        }
        return f;
    }
}

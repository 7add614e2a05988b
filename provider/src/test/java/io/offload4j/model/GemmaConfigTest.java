package io.offload4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.offload4j.gguf.ModelFormatException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.safetensors.SafetensorsDtype;
import io.offload4j.safetensors.SafetensorsFile;
import io.offload4j.safetensors.SafetensorsTensorInfo;
import io.offload4j.safetensors.SafetensorsWriter;
import java.lang.foreign.ValueLayout;

/**
 * What a Gemma config.json amounts to (transformers' hf-gemma2 / hf-gemma3 and their transformers 4 spellings), the
 * (1 + w) norms of a Hugging Face directory, a multimodal Gemma 3's text model, and the clear refusals.
 */
class GemmaConfigTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    private Path copy(String name) throws Exception {
        Path src = Path.of(getClass().getResource("/transformers/" + name + "/config.json").toURI()).getParent();
        Path dir = tmp.resolve(name);
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(src)) {
            for (Path f : files.toList()) {
                Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        return dir;
    }

    private static void config(Path dir, Consumer<ObjectNode> edit) throws IOException {
        ObjectNode c = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
        edit.accept(c);
        JSON.writeValue(dir.resolve("config.json").toFile(), c);
    }

    private static String loadError(Path dir) {
        return assertThrows(ModelFormatException.class, () -> Model.load(dir).close()).getMessage();
    }

    @Test
    void gemma2ConfigAndNorms() throws Exception {
        Path dir = copy("hf-gemma2");
        try (Model m = Model.load(dir)) {
            ModelConfig c = m.config();
            ModelTraits t = c.traits();
            assertEquals(Architecture.GEMMA2, c.architecture());
            assertEquals(8f, t.embeddingScale(), "√64");
            assertEquals((float) Math.pow(24, -0.5), t.attentionScale(), "query_pre_attn_scalar 24");
            assertEquals(5f, t.attentionSoftcap());
            assertEquals(3f, t.finalSoftcap());
            assertEquals(8, t.slidingWindow());
            assertArrayEquals(new boolean[] {true, false, true, false}, t.slidingBlocks());
            assertEquals(10000f, t.slidingRopeBase());
            assertEquals(256, c.contextLength(), "the window does not shorten Gemma's context");
            assertTrue(m.weights().tiedEmbeddings());
            BlockWeights b = m.weights().blocks().getFirst();
            assertNull(b.qNorm());
            // norms drawn around 0 in the file: the model holds 1 + w
            double mean = 0;
            for (float w : b.attentionPostNorm()) {
                mean += w / b.attentionPostNorm().length;
            }
            assertEquals(1, mean, 0.2);
        }
    }

    @Test
    void gemma3ConfigWithItsTwoRopes() throws Exception {
        Path dir = copy("hf-gemma3");
        try (Model m = Model.load(dir)) {
            ModelConfig c = m.config();
            assertEquals(Architecture.GEMMA3, c.architecture());
            assertEquals(1e6f, c.ropeFreqBase());
            assertEquals(10000f, c.traits().slidingRopeBase());
            assertEquals(RopeScaling.NONE, c.traits().slidingRopeScaling());
            assertEquals((float) Math.pow(32, -0.5), c.traits().attentionScale());
            assertEquals(0f, c.traits().attentionSoftcap());
            assertEquals(0f, c.traits().finalSoftcap());
            assertTrue(m.weights().blocks().getFirst().qNorm() != null);
        }
    }

    /** transformers 4 wrote rope_theta, rope_local_base_freq, rope_scaling and sliding_window_pattern instead. */
    @Test
    void gemma3InTransformers4Spelling() throws Exception {
        Path dir = copy("hf-gemma3");
        config(dir, c -> {
            c.remove("rope_parameters");
            c.remove("layer_types");
            c.put("rope_theta", 1e6);
            c.put("rope_local_base_freq", 10000.0);
            c.putObject("rope_scaling").put("rope_type", "linear").put("factor", 8.0);
            c.put("sliding_window_pattern", 2);
        });
        try (Model m = Model.load(dir)) {
            ModelConfig c = m.config();
            assertArrayEquals(new boolean[] {true, false, true, false}, c.traits().slidingBlocks());
            assertEquals(RopeScaling.Type.LINEAR, c.ropeScaling().type(), "the global layers' scaling");
            assertEquals(8f, c.ropeScaling().factor());
            assertEquals(RopeScaling.NONE, c.traits().slidingRopeScaling(), "local layers are not scaled");
        }
    }

    /**
     * hf-gemma3 re-saved as a multimodal Gemma 3 would be: its keys in text_config (those equal to Gemma3TextConfig's
     * defaults left out, as transformers saves it), its tensors under the language model's prefix of transformers 5
     * or 4, a vision tower and projector beside them. The text model loads and computes transformers' logits.
     */
    @ParameterizedTest
    @ValueSource(strings = {"model.language_model.", "language_model.model."})
    void multimodalGemma3LoadsItsTextModel(String prefix) throws Exception {
        Path src = copy("hf-gemma3");
        Path dir = tmp.resolve("multimodal-" + prefix.replace('.', '-'));
        Files.createDirectories(dir);
        for (String f : new String[] {"tokenizer.json", "tokenizer_config.json", "chat_template.jinja"}) {
            Files.copy(src.resolve(f), dir.resolve(f));
        }
        ObjectNode text = (ObjectNode) JSON.readTree(src.resolve("config.json").toFile());
        for (String k : new String[] {"architectures", "transformers_version", "dtype", "rms_norm_eps",
                "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id"}) {
            text.remove(k);
        }
        ObjectNode top = JSON.createObjectNode();
        top.putArray("architectures").add("Gemma3ForConditionalGeneration");
        top.put("model_type", "gemma3");
        top.set("text_config", text);
        top.putObject("vision_config").put("model_type", "siglip_vision_model");
        top.put("bos_token_id", 2);
        top.put("eos_token_id", 1);
        JSON.writeValue(dir.resolve("config.json").toFile(), top);
        SafetensorsWriter w = new SafetensorsWriter();
        try (Stream<Path> files = Files.list(src)) {
            for (Path shard : files.filter(f -> f.toString().endsWith(".safetensors")).sorted().toList()) {
                try (SafetensorsFile f = SafetensorsFile.open(shard)) {
                    for (SafetensorsTensorInfo t : f.tensors().values()) {
                        String name = t.name().startsWith("model.") ? prefix + t.name().substring(6) : t.name();
                        w.add(name, t.dtype(), t.shape(), f.tensorData(t).toArray(ValueLayout.JAVA_BYTE));
                    }
                }
            }
        }
        w.add("model.vision_tower.vision_model.embeddings.patch_embedding.weight", SafetensorsDtype.F32,
                new long[] {2, 2}, new byte[16]);
        w.add("model.multi_modal_projector.mm_input_projection_weight", SafetensorsDtype.F32, new long[] {2, 2},
                new byte[16]);
        w.write(dir.resolve("model.safetensors"));
        JsonNode ref = JSON.readTree(src.resolve("ref-text.json").toFile());
        int[] ids = new int[ref.get("ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = ref.get("ids").get(i).asInt();
        }
        java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(Files.readAllBytes(src.resolve("ref-text.f32")))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        try (Model m = Model.load(dir);
             io.offload4j.backend.cpu.CpuBackend cpu = new io.offload4j.backend.cpu.CpuBackend(2);
             io.offload4j.backend.ForwardPass pass = cpu.prepare(m, 64, 8);
             io.offload4j.backend.KvCache cache = pass.newKvCache(64)) {
            assertEquals(Architecture.GEMMA3, m.config().architecture());
            assertEquals(1e-6f, m.config().rmsNormEps(), "Gemma3TextConfig's default");
            assertTrue(m.weights().tiedEmbeddings(), "Gemma3TextConfig's default");
            float[] logits = new float[384];
            float[] want = new float[384];
            for (int p = 0; p < ids.length; p++) {
                pass.forward(cache, ids, p, 1, p, logits);
                b.asFloatBuffer().get(want);
                b.position(b.position() + 4 * 384);
                double maxDiff = 0;
                double maxRef = 0;
                for (int i = 0; i < 384; i++) {
                    maxDiff = Math.max(maxDiff, Math.abs(logits[i] - want[i]));
                    maxRef = Math.max(maxRef, Math.abs(want[i]));
                }
                assertTrue(maxDiff / maxRef < 1e-5, "position " + p + ": relative error " + maxDiff / maxRef);
            }
        }
    }

    @Test
    void multimodalGemma3WithoutTextConfigIsRefused() throws Exception {
        Path dir = copy("hf-gemma3");
        config(dir, c -> c.putArray("architectures").add("Gemma3ForConditionalGeneration"));
        String msg = loadError(dir);
        assertTrue(msg.contains("key 'text_config' is missing") && msg.contains("Gemma3ForConditionalGeneration"), msg);
    }

    @Test
    void anotherActivationIsRefused() throws Exception {
        Path dir = copy("hf-gemma2");
        config(dir, c -> c.put("hidden_activation", "gelu"));
        String msg = loadError(dir);
        assertTrue(msg.contains("key 'hidden_activation' is 'gelu'") && msg.contains("gelu_pytorch_tanh"), msg);
    }

    @Test
    void bidirectionalAttentionIsRefused() throws Exception {
        Path dir = copy("hf-gemma3");
        config(dir, c -> c.put("use_bidirectional_attention", true));
        String msg = loadError(dir);
        assertTrue(msg.contains("use_bidirectional_attention"), msg);
    }

    @Test
    void attentionSoftcapOnGemma3IsRefused() throws Exception {
        Path dir = copy("hf-gemma3");
        config(dir, c -> c.put("attn_logit_softcapping", 50.0));
        String msg = loadError(dir);
        assertTrue(msg.contains("attn_logit_softcapping") && msg.contains("Gemma 3"), msg);
    }
}

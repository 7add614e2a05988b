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

/**
 * What a Gemma config.json amounts to (transformers' hf-gemma2 / hf-gemma3 and their transformers 4 spellings), the
 * (1 + w) norms of a Hugging Face directory, and the clear refusals: a multimodal Gemma 3, another activation, a
 * missing post-norm.
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

    @Test
    void multimodalGemma3IsRefusedWithAWayOut() throws Exception {
        Path dir = copy("hf-gemma3");
        config(dir, c -> c.putArray("architectures").add("Gemma3ForConditionalGeneration"));
        String msg = loadError(dir);
        assertTrue(msg.contains("Gemma3ForConditionalGeneration") && msg.contains("multimodal")
                && msg.contains("GGUF") && msg.contains("Gemma3ForCausalLM"), msg);
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

package io.offload4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.model.TwinModels.Spec;
import io.offload4j.safetensors.SafetensorsDtype;
import io.offload4j.safetensors.SafetensorsFile;
import io.offload4j.safetensors.SafetensorsTensorInfo;
import io.offload4j.safetensors.SafetensorsWriter;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.api.io.TempDir;

/** Every way a Hugging Face directory can be unusable gives a message naming the file, the key or tensor, and a remedy. */
class HuggingFaceErrorsTest {

    private static final String REQUIRED = "a safetensors directory needs config.json, *.safetensors and tokenizer.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;
    Path dir;
    Spec spec = TwinModels.tiny(Architecture.LLAMA);

    @BeforeEach
    void writeModel() {
        dir = TwinModels.writeHuggingFace(spec, tmp.resolve("llama-hf"));
    }

    // ---- directory and config.json ----

    @Test
    void noConfig() throws IOException {
        Files.delete(dir.resolve("config.json"));
        fails("llama-hf: has no config.json; " + REQUIRED);
    }

    @Test
    void configNotJson() throws IOException {
        Files.writeString(dir.resolve("config.json"), "{\"hidden_size\": 64,");
        fails("config.json: is not valid JSON (");
    }

    @Test
    void configKeyMissing() {
        config(c -> c.remove("hidden_size"));
        fails("config.json: key 'hidden_size' is missing; a LlamaForCausalLM config needs it");
    }

    @Test
    void configKeyNotAPositiveInteger() {
        config(c -> c.put("num_hidden_layers", 2.5));
        fails("config.json: key 'num_hidden_layers' is 2.5; expected a positive integer");
    }

    @Test
    void unsupportedArchitecture() {
        config(c -> c.putArray("architectures").add("GPT2LMHeadModel"));
        fails("config.json: key 'architectures' is [\"GPT2LMHeadModel\"] (model_type 'llama'); this engine runs"
                + " LlamaForCausalLM, MistralForCausalLM, MixtralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM,"
                + " Phi3ForCausalLM, Qwen2MoeForCausalLM, Qwen3MoeForCausalLM, Gemma2ForCausalLM, Gemma3ForCausalLM,"
                + " Gemma3ForConditionalGeneration (its text model)");
    }

    @Test
    void headsNotAMultipleOfKvHeads() {
        config(c -> c.put("num_key_value_heads", 3));
        fails("config.json: key 'num_attention_heads' (4) is not a multiple of 'num_key_value_heads' (3)");
    }

    @Test
    void unsupportedRopeType() {
        config(c -> c.putObject("rope_scaling").put("rope_type", "yarn").put("factor", 4.0));
        fails("config.json: key 'rope_scaling' has rope type 'yarn'; supported: default, linear, llama3");
    }

    @Test
    void llama3RopeWithoutFactor() {
        config(c -> c.putObject("rope_scaling").put("rope_type", "llama3"));
        fails("config.json: key 'rope_scaling.factor' is missing; expected a number");
    }

    @Test
    void attentionBiasOnLlama() {
        config(c -> c.put("attention_bias", true));
        fails("config.json: key 'attention_bias' is true; attention biases are supported only for Qwen2ForCausalLM");
    }

    @Test
    void otherActivation() {
        config(c -> c.put("hidden_act", "gelu"));
        fails("config.json: key 'hidden_act' is 'gelu'; LlamaForCausalLM models run here use silu");
    }

    // ---- weights ----

    @Test
    void noSafetensors() throws IOException {
        Files.delete(dir.resolve("model.safetensors"));
        fails("llama-hf: has no *.safetensors file; " + REQUIRED);
    }

    @Test
    void missingTensor() {
        rewrite(list -> without(list, "model.layers.1.mlp.up_proj.weight"));
        fails("llama-hf: tensor 'model.layers.1.mlp.up_proj.weight' is missing; a llama model of this shape needs it"
                + " with shape [96, 64] (not in model.safetensors; an incomplete download");
    }

    @Test
    void wrongShape() {
        config(c -> c.put("intermediate_size", 128));
        fails("llama-hf: tensor 'model.layers.0.mlp.gate_proj.weight' has shape [96, 64], expected [128, 64]"
                + " (PyTorch order: rows first) from config.json");
    }

    @Test
    void untiedWithoutLmHead() {
        rewrite(list -> without(list, "lm_head.weight"));
        fails("llama-hf: tensor 'lm_head.weight' is missing from model.safetensors, and config.json says"
                + " \"tie_word_embeddings\": false");
    }

    @Test
    void dtypeTheEngineCannotCompute() {
        rewrite(list -> {
            List<Entry> out = new ArrayList<>();
            for (Entry e : list) {
                out.add(e.name.equals("model.layers.0.mlp.down_proj.weight")
                        ? new Entry(e.name, "I8", e.shape, new byte[e.data.length / 4]) : e);
            }
            return out;
        });
        fails("model.safetensors: tensor 'model.layers.0.mlp.down_proj.weight' is I8; supported dtypes: F16, BF16, F32");
    }

    @Test
    void tensorTheArchitectureDoesNotUse() {
        rewrite(list -> {
            List<Entry> out = new ArrayList<>(list);
            out.add(new Entry("model.layers.0.self_attn.q_proj.bias", "F32", new long[] {64}, new byte[256]));
            return out;
        });
        fails("llama-hf: tensor [model.layers.0.self_attn.q_proj.bias] is not part of a llama model as config.json"
                + " describes it");
    }

    @Test
    void tiedModelMayStillCarryLmHead() {
        config(c -> c.put("tie_word_embeddings", true));
        try (Model m = Model.load(dir)) {
            assertTrue(m.weights().tiedEmbeddings(), "transformers ties lm_head to the embedding whatever the file holds");
        }
    }

    @Test
    void slidingWindowIsCarriedInTheConfig() {
        config(c -> c.put("sliding_window", 128).putArray("architectures").add("MistralForCausalLM"));
        try (Model m = Model.load(dir)) {
            assertEquals(128, m.config().slidingWindow(), "Mistral's window applies to every layer");
            assertEquals(512, m.config().contextLength(), "the trained context stays max_position_embeddings");
        }
        config(c -> c.putArray("layer_types").add("full_attention").add("full_attention"));
        try (Model m = Model.load(dir)) {
            assertEquals(0, m.config().slidingWindow(), "no layer slides");
        }
    }

    @Test
    void qwenSlidingWindowFromMaxWindowLayers() {
        Path qwen = TwinModels.writeHuggingFace(TwinModels.tiny(Architecture.QWEN2), tmp.resolve("qwen"));
        dir = qwen;
        config(c -> c.put("sliding_window", 64).put("use_sliding_window", true).put("max_window_layers", 28));
        try (Model m = Model.load(qwen)) {
            assertEquals(0, m.config().slidingWindow(), "max_window_layers 28 >= 2 layers: no layer slides");
        }
        config(c -> c.put("max_window_layers", 1));
        try (Model m = Model.load(qwen)) {
            assertEquals(64, m.config().slidingWindow());
        }
    }

    // ---- hostile input (issue 19) ----

    /** An object nested deeper than any parser should follow: {@code {"a":{"a":...}}}. */
    private static String deeplyNested(int depth) {
        return "{\"a\":".repeat(depth) + "1" + "}".repeat(depth);
    }

    @Test
    void deeplyNestedConfigIsRefusedInOneLine() throws IOException {
        Files.writeString(dir.resolve("config.json"), deeplyNested(100_000));
        fails("config.json: is not valid JSON (");
    }

    @Test
    void deeplyNestedTokenizerIsRefusedInOneLine() throws IOException {
        Files.writeString(dir.resolve("tokenizer.json"), deeplyNested(100_000));
        ModelFormatException x = assertThrows(ModelFormatException.class,
                () -> io.offload4j.tokenizer.HuggingFaceTokenizerFiles.load(dir, spec.vocab()));
        assertTrue(x.getMessage().contains("tokenizer.json: is not valid JSON ("), x.getMessage());
    }

    @Test
    void deeplyNestedIndexIsRefusedInOneLine() throws IOException {
        Path sharded = TwinModels.writeHuggingFace(spec.shards(2), tmp.resolve("sharded"));
        Files.writeString(sharded.resolve("model.safetensors.index.json"), deeplyNested(100_000));
        fails(sharded, "model.safetensors.index.json: is not valid JSON (");
    }

    @Test
    void aFifoAsTheModelIsRefusedInsteadOfWaitingForAWriter() throws Exception {
        for (String name : new String[] {"model.gguf", "model.safetensors"}) {
            Path fifo = tmp.resolve(name);
            Process mkfifo = new ProcessBuilder("mkfifo", fifo.toString()).start();
            org.junit.jupiter.api.Assumptions.assumeTrue(mkfifo.waitFor() == 0, "mkfifo is not available here");
            Executable open = name.endsWith(".gguf") ? () -> io.offload4j.gguf.GgufFile.open(fifo).close()
                    : () -> SafetensorsFile.open(fifo).close();
            ModelFormatException x = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(
                    java.time.Duration.ofSeconds(10), () -> assertThrows(ModelFormatException.class, open));
            assertTrue(x.getMessage().contains(name + ": is not a regular file (a pipe, socket or device)"),
                    x.getMessage());
        }
    }

    // ---- shards ----

    @Test
    void indexNamesAMissingShard() throws IOException {
        Path sharded = TwinModels.writeHuggingFace(spec.shards(2), tmp.resolve("sharded"));
        Files.delete(sharded.resolve("model-00002-of-00002.safetensors"));
        fails(sharded, "model.safetensors.index.json: weight_map entry 'model.layers.0.input_layernorm.weight' is in"
                + " shard 'model-00002-of-00002.safetensors', which does not exist in " + sharded
                + "; download the missing shard");
    }

    @Test
    void indexAndShardsDisagree() throws IOException {
        Path sharded = TwinModels.writeHuggingFace(spec.shards(2), tmp.resolve("sharded"));
        Path index = sharded.resolve("model.safetensors.index.json");
        ObjectNode root = (ObjectNode) JSON.readTree(index.toFile());
        ((ObjectNode) root.get("weight_map")).put("model.norm.weight", "model-00002-of-00002.safetensors");
        ((ObjectNode) root.get("weight_map")).put("model.embed_tokens.weight", "model-00002-of-00002.safetensors");
        JSON.writeValue(index.toFile(), root);
        fails(sharded, "model.safetensors.index.json: weight_map entry 'model.embed_tokens.weight' points to shard"
                + " 'model-00002-of-00002.safetensors', but that file has no tensor of this name");
    }

    @Test
    void indexShardOutsideTheDirectory() throws IOException {
        Path sharded = TwinModels.writeHuggingFace(spec.shards(2), tmp.resolve("sharded"));
        Path index = sharded.resolve("model.safetensors.index.json");
        ObjectNode root = (ObjectNode) JSON.readTree(index.toFile());
        ((ObjectNode) root.get("weight_map")).put("model.embed_tokens.weight", "../elsewhere.safetensors");
        JSON.writeValue(index.toFile(), root);
        fails(sharded, "weight_map entry 'model.embed_tokens.weight' names shard '../elsewhere.safetensors', which is"
                + " not a file name inside");
    }

    @Test
    void indexWithoutWeightMap() throws IOException {
        Path sharded = TwinModels.writeHuggingFace(spec.shards(2), tmp.resolve("sharded"));
        Files.writeString(sharded.resolve("model.safetensors.index.json"), "{\"metadata\": {}}");
        fails(sharded, "model.safetensors.index.json: has no \"weight_map\" object");
    }

    @Test
    void sameTensorInTwoFilesWithoutIndex() throws IOException {
        Path sharded = TwinModels.writeHuggingFace(spec.shards(2), tmp.resolve("sharded"));
        Files.delete(sharded.resolve("model.safetensors.index.json"));
        new SafetensorsWriter().add("model.norm.weight", SafetensorsDtype.F32, new long[] {64}, new byte[256])
                .write(sharded.resolve("model-extra.safetensors"));
        fails(sharded, "tensor 'model.norm.weight' is in both model-00002-of-00002.safetensors and"
                + " model-extra.safetensors; without model.safetensors.index.json every *.safetensors file");
    }

    @Test
    void shardsWithoutIndexStillLoad() throws IOException {
        Path sharded = TwinModels.writeHuggingFace(spec.shards(3), tmp.resolve("sharded"));
        Files.delete(sharded.resolve("model.safetensors.index.json"));
        try (Model m = Model.load(sharded)) {
            assertTrue(m.weights().blocks().size() == 2);
        }
    }

    @Test
    void damagedShardIsNamed() throws IOException {
        Path f = dir.resolve("model.safetensors");
        byte[] b = Files.readAllBytes(f);
        Files.write(f, java.util.Arrays.copyOf(b, b.length - 100));
        fails("model.safetensors: tensor 'lm_head.weight': data_offsets");
    }

    // ---- Phi-3 ----

    @Test
    void longRopeFactorsOfTheWrongLength() {
        dir = TwinModels.writeHuggingFace(TwinModels.tiny(Architecture.PHI3).rope(TwinModels.Rope.LONGROPE),
                tmp.resolve("phi3"));
        config(c -> ((ObjectNode) c.get("rope_scaling")).putArray("short_factor").add(1.0).add(1.0));
        fails("config.json: key 'rope_scaling.short_factor' is a list of 2 numbers; expected a list of 6 numbers (one"
                + " per rotated pair of head dimensions)");
        config(c -> ((ObjectNode) c.get("rope_scaling")).putArray("short_factor").add(1.0).add(1.0).add(1.0).add(1.0)
                .add(-2.0).add(1.0));
        fails("config.json: key 'rope_scaling.short_factor[4]' is -2.0; expected a positive number");
    }

    @Test
    void longRopeAndPartialRotaryBelongToPhi3() {
        config(c -> c.putObject("rope_scaling").put("type", "longrope"));
        fails("config.json: key 'rope_scaling' has rope type 'longrope', which belongs to Phi-3 models, not"
                + " LlamaForCausalLM");
        config(c -> c.putNull("rope_scaling").put("partial_rotary_factor", 0.5));
        fails("config.json: key 'partial_rotary_factor' is 0.5; partial rotary embeddings are supported for"
                + " Phi3ForCausalLM only");
    }

    @Test
    void phi3PartialRotaryMustLeaveAnEvenNumberOfDimensions() {
        dir = TwinModels.writeHuggingFace(TwinModels.tiny(Architecture.PHI3), tmp.resolve("phi3"));
        config(c -> c.put("partial_rotary_factor", 0.6)); // 16 × 0.6 = 9
        fails("config.json: key 'partial_rotary_factor' is 0.6; expected a number in (0, 1] that leaves an even number"
                + " of the 16 head dimensions rotated");
    }

    @Test
    void phi3WithoutItsFusedGateUpNamesTheTensor() throws IOException {
        dir = TwinModels.writeHuggingFace(TwinModels.tiny(Architecture.PHI3), tmp.resolve("phi3"));
        rewrite(l -> without(l, "model.layers.1.mlp.gate_up_proj.weight"));
        fails("tensor 'model.layers.1.mlp.gate_up_proj.weight' is missing");
    }

    // ---- helpers ----

    record Entry(String name, String dtype, long[] shape, byte[] data) {}

    private void config(Consumer<ObjectNode> edit) {
        try {
            ObjectNode c = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
            edit.accept(c);
            JSON.writeValue(dir.resolve("config.json").toFile(), c);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** Rewrites model.safetensors with the tensors {@code edit} returns. */
    private void rewrite(UnaryOperator<List<Entry>> edit) {
        Path f = dir.resolve("model.safetensors");
        List<Entry> entries = new ArrayList<>();
        try (SafetensorsFile s = SafetensorsFile.open(f)) {
            for (SafetensorsTensorInfo t : s.tensors().values()) {
                entries.add(new Entry(t.name(), t.dtype().name(), t.shape(), s.tensorData(t).toArray(ValueLayout.JAVA_BYTE)));
            }
        }
        SafetensorsWriter w = new SafetensorsWriter();
        for (Entry e : edit.apply(entries)) {
            w.add(e.name, e.dtype, e.shape, e.data);
        }
        w.write(f);
    }

    private static List<Entry> without(List<Entry> list, String name) {
        return list.stream().filter(e -> !e.name.equals(name)).toList();
    }

    private void fails(String expected) {
        fails(dir, expected);
    }

    private static void fails(Path model, String expected) {
        Executable load = () -> Model.load(model).close();
        ModelFormatException x = assertThrows(ModelFormatException.class, load);
        assertTrue(x.getMessage().contains(expected), "expected message containing\n  " + expected + "\nbut got\n  "
                + x.getMessage());
    }
}

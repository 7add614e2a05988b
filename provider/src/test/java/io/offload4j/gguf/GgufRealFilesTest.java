package io.offload4j.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Real files from llama.cpp and gguf-py (shared reference data; skipped with a message when absent). */
class GgufRealFilesTest {

    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @TempDir
    Path dir;

    @Test
    void stories260K() {
        Path p = SharedData.require("models/stories260K.gguf");
        try (GgufFile f = GgufFile.open(p)) {
            GgufMetadata m = f.metadata();
            assertEquals(3, f.version());
            assertEquals(32, f.alignment());
            assertEquals("llama", m.getString("general.architecture"));
            assertEquals(64, m.getInt("llama.embedding_length"));
            assertEquals(5, m.getInt("llama.block_count"));
            assertEquals(8, m.getInt("llama.attention.head_count"));
            assertEquals(4, m.getInt("llama.attention.head_count_kv"));
            assertEquals(1e-5f, m.getFloat("llama.attention.layer_norm_rms_epsilon"));
            assertEquals(4294967295L, m.getLong("tokenizer.ggml.padding_token_id"), "UINT32 max read unsigned");
            String[] tokens = m.getStringArray("tokenizer.ggml.tokens");
            assertEquals(512, tokens.length);
            assertEquals(512, m.getFloatArray("tokenizer.ggml.scores").length);
            assertEquals(512, m.getIntArray("tokenizer.ggml.token_type").length);
            assertEquals("<s>", tokens[1]);
            // 5 layers x 9 tensors + token_embd, output_norm, output
            assertEquals(48, f.tensors().size());
            for (GgufTensorInfo t : f.tensors().values()) {
                assertEquals(GgmlType.F32, t.type(), t.name());
            }
            GgufTensorInfo embd = f.tensors().get("token_embd.weight");
            assertArrayEquals(new long[] {64, 512}, embd.dims());
            assertContiguous(f);
            // the weights are real numbers of modest size, not garbage from a misplaced offset
            var data = f.tensorData(embd);
            for (long i = 0; i < data.byteSize(); i += 4) {
                float v = data.get(F32, i);
                assertTrue(Float.isFinite(v) && Math.abs(v) < 100, "token_embd element " + i / 4 + " = " + v);
            }
        }
    }

    /** Tensors follow each other in file order, padded to the alignment, and the last one ends the file. */
    private static void assertContiguous(GgufFile f) {
        long expected = 0;
        for (GgufTensorInfo t : f.tensors().values()) {
            assertEquals(expected, t.dataOffset(), t.name());
            expected = GgufFile.alignUp(t.dataOffset() + t.byteSize(), f.alignment());
        }
        assertEquals(f.segment().byteSize(), f.dataStart() + expected, "data section ends the file");
    }

    /** Every kquant file parses; the reference JSON lists each tensor's format (F16 is not in it: all F16 but norms). */
    @SuppressWarnings("unchecked")
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"F16", "Q8_0", "Q4_0", "Q4_K_M", "Q5_K_M", "Q6_K"})
    void kquantFilesMatchTheReference(String preset) throws IOException {
        Path refFile = SharedData.require("models/kquant/dequantized/kquant-ref.json");
        Path model = SharedData.require("models/kquant/kquant-" + preset + ".gguf");
        Map<String, Object> all = (Map<String, Object>) MiniJson.parse(Files.readString(refFile));
        Map<String, Object> ref = (Map<String, Object>) all.get(preset);
        Map<String, String> types = new TreeMap<>();
        if (ref == null) {
            assertEquals("F16", preset, "only F16 is missing from kquant-ref.json");
            ((Map<String, Object>) ((Map<String, Object>) all.get("Q8_0")).get("tensor_types")).keySet()
                    .forEach(k -> types.put(k, k.endsWith("norm.weight") ? "F32" : "F16"));
        } else {
            assertEquals("kquant-" + preset + ".gguf", ref.get("file"));
            ((Map<String, Object>) ref.get("tensor_types")).forEach((k, v) -> types.put(k, (String) v));
        }
        try (GgufFile f = GgufFile.open(model)) {
            assertEquals(3, f.version());
            assertEquals("llama", f.metadata().getString("general.architecture"));
            assertEquals(256, f.metadata().getInt("llama.embedding_length"));
            assertEquals(512, f.metadata().getInt("llama.feed_forward_length"));
            assertEquals(2, f.metadata().getInt("llama.block_count"));
            assertEquals(512, f.metadata().getStringArray("tokenizer.ggml.tokens").length);
            assertEquals(21, f.tensors().size(), "tensor count");
            Map<String, String> actual = new TreeMap<>();
            f.tensors().values().forEach(t -> actual.put(t.name(), t.type().name()));
            assertEquals(types, actual, "tensor names and formats");
            for (GgufTensorInfo t : f.tensors().values()) {
                assertEquals(t.name().endsWith("norm.weight") ? 1 : 2, t.rank(), t.name());
                assertEquals(t.name().endsWith("ffn_down.weight") ? 512 : 256, t.dim(0), t.name() + " row length");
            }
            assertContiguous(f);
            if (ref == null) {
                return;
            }
            Map<String, Object> dequantized = (Map<String, Object>) ref.get("dequantized");
            assertFalse(dequantized.isEmpty());
            for (var e : dequantized.entrySet()) {
                Map<String, Object> d = (Map<String, Object>) e.getValue();
                GgufTensorInfo t = f.tensors().get(e.getKey());
                assertEquals(d.get("type"), t.type().name(), e.getKey());
                List<Double> rowsCols = (List<Double>) d.get("rows_cols");
                assertEquals(rowsCols.get(1).longValue(), t.dim(0), e.getKey() + " columns = ne[0]");
                assertEquals(rowsCols.get(0).longValue(), t.dim(1), e.getKey() + " rows = ne[1]");
                Path f32 = refFile.resolveSibling((String) d.get("file"));
                assertEquals(t.elementCount() * 4, Files.size(f32), e.getKey() + " reference size");
                assertEquals(t.type().bytesFor(t.elementCount()), f.tensorData(t).byteSize());
            }
        }
    }

    /** No kquant file is left out of the test above. */
    @Test
    void everyKquantFileIsCovered() throws IOException {
        Path dirPath = SharedData.require("models/kquant");
        try (var files = Files.list(dirPath)) {
            List<String> names = files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".gguf")).sorted().toList();
            assertEquals(List.of("kquant-F16.gguf", "kquant-Q4_0.gguf", "kquant-Q4_K_M.gguf", "kquant-Q5_K_M.gguf",
                    "kquant-Q6_K.gguf", "kquant-Q8_0.gguf"), names, "update kquantFilesMatchTheReference's presets");
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"ggml-vocab-llama-spm", "ggml-vocab-gpt-2", "ggml-vocab-phi-3"})
    void vocabularyOnlyFiles(String name) {
        Path p = SharedData.requireGunzipped("vocab/" + name + ".gguf.gz", dir);
        try (GgufFile f = GgufFile.open(p)) {
            GgufMetadata m = f.metadata();
            assertEquals(0, f.tensors().size());
            assertTrue(f.dataStart() >= Files.size(p) - 32, "no data section: the file ends with the header");
            String[] tokens = m.getStringArray("tokenizer.ggml.tokens");
            assertEquals(m.getIntArray("tokenizer.ggml.token_type").length, tokens.length);
            int expected = switch (name) {
                case "ggml-vocab-llama-spm" -> 32000;
                case "ggml-vocab-gpt-2" -> 50257;
                default -> 32064;
            };
            assertEquals(expected, tokens.length);
            if (m.has("tokenizer.ggml.scores")) {
                assertEquals(tokens.length, m.getFloatArray("tokenizer.ggml.scores").length);
            }
            if (name.endsWith("gpt-2")) {
                assertEquals(50000, m.getStringArray("tokenizer.ggml.merges").length);
                assertEquals("Ġthe", tokens[262]);
                assertEquals("<|endoftext|>", tokens[50256]);
            } else {
                assertEquals("<s>", tokens[1]);
                assertEquals("<0x0A>", tokens[13]);
            }
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}

package io.offload4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.ModelFormatException;
import io.offload4j.testing.SharedData;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoadingTest {

    @TempDir
    static Path dir;
    static Path tiny;

    @BeforeAll
    static void writeTinyModel() {
        tiny = dir.resolve("tiny.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), tiny);
    }

    private static String loadError(Path file) {
        return assertThrows(ModelFormatException.class, () -> Model.load(file).close()).getMessage();
    }

    @Test
    void configIsReadFromMetadata() {
        try (Model m = Model.load(tiny)) {
            ModelConfig c = m.config();
            assertEquals(Architecture.LLAMA, c.architecture());
            assertEquals(256, c.embeddingLength());
            assertEquals(2, c.blockCount());
            assertEquals(8, c.headCount());
            assertEquals(4, c.headCountKv());
            assertEquals(32, c.headDim());
            assertEquals(512, c.vocabularySize());
            assertFalse(m.weights().tiedEmbeddings());
        }
    }

    @Test
    void stories260kConfig() {
        try (Model m = Model.load(SharedData.require("models/stories260K.gguf"))) {
            ModelConfig c = m.config();
            assertEquals(64, c.embeddingLength());
            assertEquals(5, c.blockCount());
            assertEquals(8, c.headCount());
            assertEquals(4, c.headCountKv());
            assertEquals(512, c.vocabularySize());
        }
    }

    @Test
    void tiedEmbeddingsUseTheEmbeddingAsOutput() {
        Path tied = dir.resolve("tied.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32).withTiedEmbeddings(true), tied);
        try (Model m = Model.load(tied)) {
            assertTrue(m.weights().tiedEmbeddings());
            assertSame(m.weights().tokenEmbedding(), m.weights().output());
        }
    }

    @Test
    void unknownArchitectureListsTheSupportedOnes() {
        Path f = GgufRewriter.rewrite(tiny, dir.resolve("mamba.gguf"), w -> w.putString("general.architecture", "mamba"),
                t -> true);
        String msg = loadError(f);
        assertTrue(msg.contains("mamba.gguf"), msg);
        assertTrue(msg.contains("'general.architecture' is 'mamba'") && msg.contains("supported: llama, qwen2, qwen3, phi3, qwen2moe, qwen3moe, gemma2, gemma3"), msg);
    }

    @Test
    void missingTensorIsNamed() {
        Path f = GgufRewriter.rewrite(tiny, dir.resolve("missing.gguf"), w -> {}, t -> !t.equals("blk.1.ffn_up.weight"));
        String msg = loadError(f);
        assertTrue(msg.contains("tensor 'blk.1.ffn_up.weight' is missing") && msg.contains("[256, 512]"), msg);
    }

    @Test
    void misShapedTensorIsNamedWithBothShapes() {
        // The metadata now promises a wider FFN than the tensors have.
        Path f = GgufRewriter.rewrite(tiny, dir.resolve("shape.gguf"), w -> w.putUInt32("llama.feed_forward_length", 768),
                t -> true);
        String msg = loadError(f);
        assertTrue(msg.contains("tensor 'blk.0.ffn_gate.weight' has shape [256, 512], expected [256, 768]"), msg);
    }

    @Test
    void missingHyperParameterIsNamed() {
        Path f = GgufRewriter.rewrite(tiny, dir.resolve("nokey.gguf"), w -> w.putString("llama.block_count", "two"),
                t -> true);
        String msg = loadError(f);
        assertTrue(msg.contains("metadata key 'llama.block_count' is STRING ('two'), expected an integer"), msg);
    }

    @Test
    void vocabularyOnlyFileIsNotAModel(@TempDir Path tmp) {
        Path vocab = SharedData.requireGunzipped("vocab/ggml-vocab-gpt-2.gguf.gz", tmp);
        String msg = loadError(vocab);
        assertTrue(msg.contains("has no tensors: it is a vocabulary-only GGUF"), msg);
    }

    @Test
    void formatTheCpuCannotComputeIsRefusedAtPreparation() {
        // IQ2_XXS is a valid ggml type the CPU kernels do not implement.
        long[] dims = {256, 512};
        Path f = GgufRewriter.rewrite(tiny, dir.resolve("iq2xxs.gguf"), w -> w.addTensor("blk.0.ffn_up.weight",
                GgmlType.IQ2_XXS, dims, dst -> dst.fill((byte) 0)), t -> !t.equals("blk.0.ffn_up.weight"));
        try (Model m = Model.load(f); CpuBackend cpu = new CpuBackend(1)) {
            String msg = assertThrows(ModelFormatException.class, () -> cpu.prepare(m, 16, 4)).getMessage();
            assertTrue(msg.contains("tensor 'blk.0.ffn_up.weight' is stored as IQ2_XXS") && msg.contains("supported formats"), msg);
            for (String listed : new String[] {"Q5_0", "Q5_1", "Q2_K", "Q3_K", "IQ4_NL", "IQ4_XS", "Q4_K", "Q6_K"}) {
                assertTrue(msg.contains(listed), "the supported formats listed lack " + listed + ": " + msg);
            }
        }
    }

    @Test
    void unsupportedRopeScalingIsNamed() {
        Path f = GgufRewriter.rewrite(tiny, dir.resolve("yarn.gguf"), w -> w.putString("llama.rope.scaling.type", "yarn"),
                t -> true);
        String msg = loadError(f);
        assertTrue(msg.contains("'llama.rope.scaling.type' is 'yarn'") && msg.contains("supported: none, linear"), msg);
    }
}

package io.offload4j.backend.cuda;

import static io.offload4j.embedding.EmbeddingReferenceTest.ints;
import static io.offload4j.embedding.EmbeddingReferenceTest.json;
import static io.offload4j.embedding.EmbeddingReferenceTest.resource;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.backend.EncoderPass;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.gguf.GgmlType;
import io.offload4j.model.EncoderModel;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GGUF conversions {@link EncoderGpuTest} holds the GPU to, checked on the CPU (no GPU needed): each loads with its
 * matrices in the asked format, and the CPU pass over it stays near the F32 directory's hidden states (F32: equal to
 * rounding; F16 and Q8_0: within their precision), so a GPU failure on them is the GPU's.
 */
class EncoderGgufFixturesTest {

    @TempDir
    Path tmp;

    @Test
    void conversionsLoadInTheirFormatsAndRunOnTheCpu() throws IOException {
        check("hf-bert", "ref-embed.json", false);
        check("hf-xlmr-reranker", "ref-scores.json", true);
    }

    private void check(String name, String refFile, boolean reranker) throws IOException {
        Path dir = resource(name);
        JsonNode ids = json(dir.resolve(refFile)).path("ids");
        int[][] inputs = new int[ids.size()][];
        for (int i = 0; i < inputs.length; i++) {
            inputs[i] = ints(ids.get(i));
        }
        EncoderGpuTest.Packed p = EncoderGpuTest.Packed.of(inputs);
        try (CpuBackend cpu = new CpuBackend(1)) {
            float[] base;
            try (EncoderModel m = EncoderModel.load(dir); EncoderPass pass = cpu.prepareEncoder(m, 256)) {
                base = p.run(pass);
            }
            double[] tolerance = {1e-5, 1e-2, 5e-2};
            GgmlType[] types = {GgmlType.F32, GgmlType.F16, GgmlType.Q8_0};
            for (int t = 0; t < types.length; t++) {
                Path gguf = tmp.resolve(name + "-" + types[t] + ".gguf");
                if (reranker) {
                    EncoderGgufFixtures.reranker(dir, types[t], gguf);
                } else {
                    EncoderGgufFixtures.bert(dir, types[t], gguf);
                }
                try (EncoderModel m = EncoderModel.load(gguf); EncoderPass pass = cpu.prepareEncoder(m, 256)) {
                    assertEquals(types[t], m.weights().layers().getFirst().up().type(), "block matrices' format");
                    assertEquals(types[t], m.weights().tokenEmbedding().type(), "token table's format");
                    double err = GpuTests.relErr(p.run(pass), base);
                    assertTrue(err <= tolerance[t], name + " " + types[t] + ": rel err " + err + " vs the directory");
                }
            }
        }
    }
}

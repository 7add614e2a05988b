package io.offload4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.Backends;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.gguf.GgmlType;
import io.offload4j.model.TwinModels.Rope;
import io.offload4j.model.TwinModels.Spec;
import io.offload4j.safetensors.SafetensorsDtype;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A Hugging Face directory computes what its GGUF conversion computes: the same random weights written both
 * ways ({@link TwinModels}), the CPU forward pass run over both, logits compared at every chunk.
 */
class SafetensorsModelTest {

    /** 24 tokens in chunks of 5: the batched prefill (5) and single-token paths, positions up to 23. */
    private static final int[] TOKENS = {1, 300, 17, 42, 311, 260, 5, 99, 200, 3, 77, 301, 18, 19, 250, 120, 7, 8, 9, 302,
            290, 280, 270, 260};
    private static final int CHUNK = 5;

    @TempDir
    Path tmp;

    static Stream<Spec> twins() {
        Spec llama = TwinModels.tiny(Architecture.LLAMA);
        Spec qwen2 = TwinModels.tiny(Architecture.QWEN2);
        Spec qwen3 = TwinModels.tiny(Architecture.QWEN3);
        Spec phi3 = TwinModels.tiny(Architecture.PHI3);
        return Stream.of(
                phi3,
                phi3.with(SafetensorsDtype.BF16).shards(2).rope(Rope.LONGROPE),
                phi3.with(SafetensorsDtype.F16).tied(true).rope(Rope.LONGROPE_TRANSFORMERS5),
                llama,
                llama.with(SafetensorsDtype.BF16).tied(true).shards(3),
                llama.with(SafetensorsDtype.F16).shards(2).rope(Rope.LLAMA3_TRANSFORMERS5),
                llama.rope(Rope.LLAMA3),
                llama.with(SafetensorsDtype.BF16).rope(Rope.LINEAR),
                qwen2.with(SafetensorsDtype.BF16).tied(true),
                qwen2.shards(2),
                qwen3.with(SafetensorsDtype.F16).headDim(32),
                qwen3.with(SafetensorsDtype.BF16).tied(true).shards(2).rope(Rope.LINEAR));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("twins")
    void logitsEqualThoseOfTheGgufConversion(Spec spec) {
        Path hf = TwinModels.writeHuggingFace(spec, tmp.resolve("hf"));
        Path gguf = TwinModels.writeGguf(spec, tmp.resolve("model.gguf"), true);
        try (Model fromHf = Model.load(hf); Model fromGguf = Model.load(gguf)) {
            assertEquals(RopeLayout.HALVES, fromHf.config().ropeLayout());
            assertEquals(spec.arch().ropeLayout(), fromGguf.config().ropeLayout());
            assertEquals(spec.dtype().ggmlType().orElseThrow(), fromHf.weights().blocks().get(1).wDown().type());
            assertEquals(spec.tied(), fromHf.weights().tiedEmbeddings());
            assertEquals(fromGguf.config().withRopeLayout(RopeLayout.HALVES).headDim(), fromHf.config().headDim());
            assertEquals(fromGguf.config().ropeScaling(), fromHf.config().ropeScaling());
            if (fromGguf.weights().ropeFrequencyFactors() != null) {
                assertArrayEquals(fromGguf.weights().ropeFrequencyFactors(), fromHf.weights().ropeFrequencyFactors(), 1e-6f);
            } else {
                assertNull(fromHf.weights().ropeFrequencyFactors());
            }
            LongRope g = fromGguf.weights().longRope();
            LongRope h = fromHf.weights().longRope();
            assertEquals(g == null, h == null);
            if (g != null) {
                assertArrayEquals(g.shortFactors(), h.shortFactors());
                assertArrayEquals(g.longFactors(), h.longFactors());
                assertEquals(g.originalContext(), h.originalContext());
                assertEquals(g.attentionFactor(), h.attentionFactor(), 1e-6f);
            }
            assertEquals(fromGguf.config().ropeDimensions(), fromHf.config().ropeDimensions());
            List<float[]> a = logits(fromHf);
            List<float[]> b = logits(fromGguf);
            for (int i = 0; i < a.size(); i++) {
                double err = relativeError(a.get(i), b.get(i));
                // Same bytes, same kernels; only the order of the head dimensions in q·k differs.
                assertTrue(err < 2e-5, spec + ", chunk " + i + ": relative error " + err);
            }
        }
    }

    /** The comparison above can fail: without llama.cpp's permutation the GGUF file computes something else. */
    @Test
    void withoutThePermutationTheGgufComputesSomethingElse() {
        Spec spec = TwinModels.tiny(Architecture.LLAMA);
        Path hf = TwinModels.writeHuggingFace(spec, tmp.resolve("hf"));
        Path unpermuted = TwinModels.writeGguf(spec, tmp.resolve("unpermuted.gguf"), false);
        try (Model fromHf = Model.load(hf); Model fromGguf = Model.load(unpermuted)) {
            double err = relativeError(logits(fromHf).getLast(), logits(fromGguf).getLast());
            assertTrue(err > 1e-2, "relative error " + err);
        }
    }

    /** Zero copy: the projections are views of the mapped shard, not heap copies. */
    @Test
    void weightsStayInTheMapping() {
        Spec spec = TwinModels.tiny(Architecture.QWEN2).with(SafetensorsDtype.BF16);
        Path hf = TwinModels.writeHuggingFace(spec, tmp.resolve("hf"));
        try (Model m = Model.load(hf)) {
            Weight q = m.weights().blocks().getFirst().wq();
            assertEquals(GgmlType.BF16, q.type());
            assertTrue(q.data().isMapped(), "a view of the mapped file");
            assertEquals((long) q.rows() * q.cols() * 2, q.byteSize());
            assertFalse(m.isGguf());
            assertEquals("qwen2", m.metadata().getString("general.architecture"));
            assertEquals("hf", m.config().name());
        }
    }

    private static List<float[]> logits(Model m) {
        List<float[]> out = new ArrayList<>();
        try (var backend = new io.offload4j.backend.cpu.CpuBackend(2);
             ForwardPass pass = backend.prepare(m, 64, CHUNK);
             KvCache cache = pass.newKvCache(64)) {
            for (int pos = 0; pos < TOKENS.length; pos += CHUNK) {
                float[] logits = new float[m.config().vocabularySize()];
                pass.forward(cache, TOKENS, pos, Math.min(CHUNK, TOKENS.length - pos), pos, logits);
                out.add(logits);
            }
        }
        return out;
    }

    private static double relativeError(float[] a, float[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < a.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }
}

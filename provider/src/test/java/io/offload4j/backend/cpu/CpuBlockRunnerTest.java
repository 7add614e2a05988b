package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.quant.CpuKernels;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The runner a GPU pass hands single blocks to must compute exactly what the CPU pass computes: keys and values
 * written by block-by-block decode, fed with keys and values of earlier positions copied in through writeKv, equal
 * those of a whole CPU forward pass over the same tokens.
 */
class CpuBlockRunnerTest {

    @TempDir
    Path tmp;

    @Test
    void blockByBlockDecodeWritesTheSameKeysAndValuesAsTheForwardPass() {
        Path file = tmp.resolve("m.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.Q8_0), file);
        try (Model model = Model.load(file)) {
            int layers = model.config().blockCount();
            int dim = model.config().embeddingLength();
            int kvDim = model.config().keyValueDim();
            boolean[] all = new boolean[layers];
            java.util.Arrays.fill(all, true);
            int[] tokens = {5, 17, 99, 3, 42, 7};
            try (CpuBackend cpu = new CpuBackend(2);
                 ForwardPass pass = cpu.prepare(model, 16, 8);
                 KvCache reference = pass.newKvCache(16);
                 CpuBlockRunner runner = new CpuBlockRunner(model, 16, all, 2);
                 KvCache mirror = runner.newKvCache(16)) {
                float[] logits = new float[model.config().vocabularySize()];
                pass.forward(reference, tokens, 0, 4, 0, logits); // a prompt of 4, on the "GPU"
                float[] k = new float[kvDim];
                float[] v = new float[kvDim];
                for (int l = 0; l < layers; l++) { // mirrored into the runner's cache, row by row
                    for (int p = 0; p < 4; p++) {
                        runner.readKv(reference, l, p, k, v);
                        runner.writeKv(mirror, l, p, k, v);
                    }
                }
                for (int p = 4; p < tokens.length; p++) {
                    pass.forward(reference, tokens, p, 1, p, logits);
                    float[] act = new float[dim];
                    var e = model.weights().tokenEmbedding();
                    CpuKernels.of(e.type()).dequantize(e.data(), (long) tokens[p] * e.rowBytes(), act, 0, dim);
                    for (int l = 0; l < layers; l++) {
                        runner.runBlock(l, mirror, act, 1, p);
                        float[] wantK = new float[kvDim];
                        float[] wantV = new float[kvDim];
                        runner.readKv(reference, l, p, wantK, wantV);
                        runner.readKv(mirror, l, p, k, v);
                        assertArrayEquals(wantK, k, 1e-4f, "keys of block " + l + " at " + p);
                        assertArrayEquals(wantV, v, 1e-4f, "values of block " + l + " at " + p);
                    }
                }
                // the same two tokens as one call of two rows (a speculative verification's rows): same keys and values
                try (KvCache rows = runner.newKvCache(16)) {
                    for (int l = 0; l < layers; l++) {
                        for (int p = 0; p < 4; p++) {
                            runner.readKv(reference, l, p, k, v);
                            runner.writeKv(rows, l, p, k, v);
                        }
                    }
                    float[] act = new float[2 * dim];
                    var e = model.weights().tokenEmbedding();
                    for (int t = 0; t < 2; t++) {
                        CpuKernels.of(e.type()).dequantize(e.data(), (long) tokens[4 + t] * e.rowBytes(), act, t * dim,
                                dim);
                    }
                    for (int l = 0; l < layers; l++) {
                        runner.runBlock(l, rows, act, 2, 4);
                        for (int p = 4; p < 6; p++) {
                            float[] wantK = new float[kvDim];
                            float[] wantV = new float[kvDim];
                            runner.readKv(reference, l, p, wantK, wantV);
                            runner.readKv(rows, l, p, k, v);
                            assertArrayEquals(wantK, k, 1e-4f, "two rows: keys of block " + l + " at " + p);
                            assertArrayEquals(wantV, v, 1e-4f, "two rows: values of block " + l + " at " + p);
                        }
                    }
                    assertThrows(IllegalArgumentException.class, () -> runner.runBlock(0, rows,
                            new float[(CpuBlockRunner.MAX_ROWS + 1) * dim], CpuBlockRunner.MAX_ROWS + 1, 6));
                }
                boolean[] first = new boolean[layers];
                first[0] = true;
                try (CpuBlockRunner one = new CpuBlockRunner(model, 16, first, 1)) {
                    assertThrows(IllegalArgumentException.class, () -> one.runBlock(1, mirror, new float[dim], 1, 0));
                }
            }
        }
    }

    /** fp16 rows handed over as a GPU cache holds them land in the CPU cache exactly widened, at their positions. */
    @Test
    void halfRowsLandExactlyWidened() throws Exception {
        Path file = tmp.resolve("h.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.Q8_0), file);
        try (Model model = Model.load(file)) {
            int layers = model.config().blockCount();
            int kvDim = model.config().keyValueDim();
            boolean[] all = new boolean[layers];
            java.util.Arrays.fill(all, true);
            int count = 3;
            java.lang.foreign.MemorySegment rows = java.lang.foreign.MemorySegment.ofArray(new byte[4 + 4 * count * kvDim]);
            var half = java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN);
            java.util.Random r = new java.util.Random(3);
            for (int i = 0; i < 2 * count * kvDim; i++) {
                rows.set(half, 4 + 2L * i, Float.floatToFloat16((float) r.nextGaussian()));
            }
            try (CpuBlockRunner runner = new CpuBlockRunner(model, 16, all, 2);
                 KvCache cache = runner.newKvCache(16)) {
                int layer = layers - 1;
                long valuesAt = 4 + 2L * count * kvDim;
                runner.writeKvRowsHalves(cache, layer, 5, count, rows, 4, valuesAt);
                float[] k = new float[kvDim];
                float[] v = new float[kvDim];
                for (int t = 0; t < count; t++) {
                    runner.readKv(cache, layer, 5 + t, k, v);
                    float[] wantK = new float[kvDim];
                    float[] wantV = new float[kvDim];
                    for (int j = 0; j < kvDim; j++) {
                        wantK[j] = Float.float16ToFloat(rows.get(half, 4 + 2L * (t * kvDim + j)));
                        wantV[j] = Float.float16ToFloat(rows.get(half, valuesAt + 2L * (t * kvDim + j)));
                    }
                    assertArrayEquals(wantK, k, 0f, "keys at " + (5 + t));
                    assertArrayEquals(wantV, v, 0f, "values at " + (5 + t));
                }
                runner.readKv(cache, layer, 4, k, v); // untouched around them
                assertArrayEquals(new float[kvDim], k, 0f);
            }
        }
    }
}

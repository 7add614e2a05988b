package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.KvCache;
import io.offload4j.gguf.GgmlType;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.offload.TieredForwardPass;
import java.nio.file.Path;
import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The batched matrix-vector kernels ({@code mvb_*}, {@code src/main/cuda/batched.cuh}) against the one-row kernel
 * run row by row, and whole batched decode steps against each sequence decoded alone.
 *
 * <p>The batched kernel accumulates each output row in the same lane, order and fused multiply-adds as the one-row
 * kernel, so the two should agree bit for bit; the assertion allows a normwise relative error of {@value #TOL}
 * (compiler contraction could in principle differ between the two inlined decoders) and the report says how many
 * outputs were bit-identical.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class BatchedDecodeGpuTest {

    static final double TOL = 1e-6;
    static final double TOL_MODEL = 1e-5;
    static final int[] ROW_COUNTS = {2, 3, 5, 8, 13, 16};

    static CudaDevice device;
    static CudaKernels kernels;
    static CUstream stream;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void open() {
        GpuTests.assumeGpu();
        device = CudaDevice.open(0);
        device.makeCurrent();
        kernels = new CudaKernels();
        stream = new CUstream();
        cuStreamCreate(stream, 0);
        GpuTests.report("device " + device.description());
    }

    @AfterAll
    static void close() {
        if (device != null) {
            device.makeCurrent();
            cuStreamDestroy(stream);
            kernels.close();
            device.close();
        }
    }

    static GgmlType[] formats() {
        return CudaKernelsGpuTest.FORMATS;
    }

    /** Row lengths that are whole units but not round numbers: two per format (K-quants: 1 and 5 super-blocks). */
    static int[] colsFor(GgmlType type) {
        return switch (type) {
            case F32 -> new int[] {36, 1300};
            case F16, BF16 -> new int[] {40, 1304};
            case Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, IQ4_NL -> new int[] {96, 1312};
            default -> new int[] {256, 1280};
        };
    }

    /**
     * Every format, two row lengths, every mode (with and without the fused norm), 2..16 rows: the batched kernel's
     * outputs against the one-row kernel run once per row. 67 output rows: not a multiple of a block's rows.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void batchedEqualsOneRowKernel(GgmlType type) {
        device.makeCurrent();
        int rows = 67;
        float eps = 1e-5f;
        long exact = 0;
        long total = 0;
        double worst = 0;
        for (int cols : colsFor(type)) {
            SplittableRandom rnd = new SplittableRandom(type.ordinal() * 131L + cols);
            byte[] w0 = RefDequant.randomRows(type, rows, cols, rnd);
            byte[] w1 = RefDequant.randomRows(type, rows, cols, rnd);
            int rowBytes = Math.toIntExact(type.bytesFor(cols));
            float[] g = CudaKernelsGpuTest.randomFloats(rnd, cols, 1.5);
            int maxNt = ROW_COUNTS[ROW_COUNTS.length - 1];
            float[] x = CudaKernelsGpuTest.randomFloats(rnd, maxNt * cols, 2.0);
            float[] yInit = CudaKernelsGpuTest.randomFloats(rnd, maxNt * rows, 1.0);
            try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
                CUdeviceptr dw0 = buf.of(w0);
                CUdeviceptr dw1 = buf.of(w1);
                CUdeviceptr dx = buf.of(x);
                CUdeviceptr dg = buf.of(g);
                for (int nt : ROW_COUNTS) {
                    for (int mode : new int[] {CudaKernels.STORE, CudaKernels.ADD, CudaKernels.SWIGLU}) {
                        for (boolean norm : new boolean[] {false, true}) {
                            if (norm && mode == CudaKernels.ADD) {
                                continue;
                            }
                            CUdeviceptr w1p = mode == CudaKernels.SWIGLU ? dw1 : null;
                            CUdeviceptr want = buf.of(yInit);
                            CUdeviceptr got = buf.of(yInit);
                            for (int t = 0; t < nt; t++) {
                                kernels.matvec(stream, type, 1, mode, dw0, w1p, null, rows, 0, 0, rowBytes, cols,
                                        dx.withByteOffset(4L * t * cols), want.withByteOffset(4L * t * rows), null,
                                        null, norm ? dg : null, eps);
                            }
                            kernels.matvecBatched(stream, type, nt, mode, dw0, w1p, null, rows, 0, 0, rowBytes, cols,
                                    dx, got, null, null, norm ? dg : null, eps);
                            cuStreamSynchronize(stream);
                            float[] a = GpuTests.Buffers.floats(got, maxNt * rows);
                            float[] b = GpuTests.Buffers.floats(want, maxNt * rows);
                            String what = String.format("%s cols=%d nt=%d mode=%d norm=%b", type, cols, nt, mode, norm);
                            for (int i = nt * rows; i < maxNt * rows; i++) { // rows past nt: untouched
                                assertTrue(Float.floatToRawIntBits(a[i]) == Float.floatToRawIntBits(yInit[i]),
                                        what + ": output row " + i / rows + " (>= nt) was written");
                            }
                            float[] ga = java.util.Arrays.copyOf(a, nt * rows);
                            float[] gb = java.util.Arrays.copyOf(b, nt * rows);
                            for (int i = 0; i < ga.length; i++) {
                                exact += Float.floatToRawIntBits(ga[i]) == Float.floatToRawIntBits(gb[i]) ? 1 : 0;
                            }
                            total += ga.length;
                            double err = GpuTests.relErr(ga, gb);
                            worst = Math.max(worst, err);
                            assertTrue(err <= TOL, what + ": relErr " + err + " > " + TOL);
                        }
                    }
                }
            }
        }
        GpuTests.report(String.format("batched matvec %-6s rows 2..16, all modes: relErr=%.2e, bit-identical %d/%d",
                type, worst, exact, total));
    }

    /** Q, K and V in one launch: row pairs that straddle two matrices, and a last warp with one row left. */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = GgmlType.class, names = {"Q4_K", "F16", "Q6_K", "Q8_0"})
    void batchedSegmentsEqualOneRowKernel(GgmlType type) {
        device.makeCurrent();
        int cols = 512;
        int[] rows = {67, 33, 45};
        int nt = 11;
        float eps = 1e-5f;
        SplittableRandom rnd = new SplittableRandom(11);
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        float[] x = CudaKernelsGpuTest.randomFloats(rnd, nt * cols, 1);
        float[] g = CudaKernelsGpuTest.randomFloats(rnd, cols, 1.5);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr[] dw = new CUdeviceptr[3];
            CUdeviceptr[] want = new CUdeviceptr[3];
            CUdeviceptr[] got = new CUdeviceptr[3];
            for (int s = 0; s < 3; s++) {
                dw[s] = buf.of(RefDequant.randomRows(type, rows[s], cols, rnd));
                want[s] = buf.alloc(4L * nt * rows[s]);
                got[s] = buf.alloc(4L * nt * rows[s]);
            }
            CUdeviceptr dx = buf.of(x);
            CUdeviceptr dg = buf.of(g);
            for (int t = 0; t < nt; t++) {
                kernels.matvec(stream, type, 1, CudaKernels.STORE, dw[0], dw[1], dw[2], rows[0], rows[1], rows[2],
                        rowBytes, cols, dx.withByteOffset(4L * t * cols), want[0].withByteOffset(4L * t * rows[0]),
                        want[1].withByteOffset(4L * t * rows[1]), want[2].withByteOffset(4L * t * rows[2]), dg, eps);
            }
            kernels.matvecBatched(stream, type, nt, CudaKernels.STORE, dw[0], dw[1], dw[2], rows[0], rows[1], rows[2],
                    rowBytes, cols, dx, got[0], got[1], got[2], dg, eps);
            cuStreamSynchronize(stream);
            for (int s = 0; s < 3; s++) {
                double err = GpuTests.relErr(GpuTests.Buffers.floats(got[s], nt * rows[s]),
                        GpuTests.Buffers.floats(want[s], nt * rows[s]));
                GpuTests.report(String.format("batched matvec segments %s seg=%d relErr=%.2e", type, s, err));
                assertTrue(err <= TOL, type + " segment " + s + ": relErr " + err);
            }
        }
    }

    /** Llama in the formats that matter most, and the other block shapes that reach the batched kernels. */
    static java.util.stream.Stream<Arguments> models() {
        java.util.List<Arguments> l = new java.util.ArrayList<>();
        for (QuantPreset q : new QuantPreset[] {QuantPreset.F16, QuantPreset.Q8_0, QuantPreset.Q4_K_M, QuantPreset.Q4_0,
                QuantPreset.IQ4_XS, QuantPreset.F32}) {
            l.add(Arguments.of("llama " + q, SyntheticModelSpec.tiny(Architecture.LLAMA, q)));
        }
        // Q/K/V biases; Q/K norms; GeGLU (gate and up stored by one two-matrix launch), post-norms and a sliding window
        // (ring KV cache); a mixture of experts (router and shared expert through the batched kernels)
        l.add(Arguments.of("qwen2 Q8_0", SyntheticModelSpec.tiny(Architecture.QWEN2, QuantPreset.Q8_0)));
        l.add(Arguments.of("qwen3 Q4_K_M", SyntheticModelSpec.tiny(Architecture.QWEN3, QuantPreset.Q4_K_M)));
        l.add(Arguments.of("gemma2 Q4_K_M window 8",
                SyntheticModelSpec.tinyGemma(Architecture.GEMMA2, QuantPreset.Q4_K_M, 8)));
        l.add(Arguments.of("qwen2moe Q8_0", SyntheticModelSpec.tiny(Architecture.QWEN2MOE, QuantPreset.Q8_0)));
        return l.stream();
    }

    /**
     * A batched decode step of B sequences (each at its own position, its own cache) gives each sequence the logits
     * it gets decoded alone, for B = 2, 5, 13 and 16 (the batched kernels' range), over three steps in a row (so the
     * K/V rows a batched step writes are checked too, and the second and third steps replay the batch's graph).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void batchedStepEqualsEachSequenceAlone(String label, SyntheticModelSpec spec) {
        Path path = tmp.resolve("batched-" + label.replace(' ', '-') + ".gguf");
        SyntheticModelWriter.write(spec, path);
        try (CudaBackend gpu = new CudaBackend(0); Model model = Model.load(path);
             TieredForwardPass pass = Passes.on(gpu, model, 64, 16)) {
            int vocab = model.config().vocabularySize();
            SplittableRandom rnd = new SplittableRandom(label.hashCode());
            double worst = 0;
            long exact = 0;
            long total = 0;
            for (int batch : new int[] {2, 5, 13, 16}) {
                KvCache[] together = new KvCache[batch];
                KvCache[] alone = new KvCache[batch];
                int[][] tokens = new int[batch][24];
                int[] positions = new int[batch];
                try {
                    for (int s = 0; s < batch; s++) {
                        for (int i = 0; i < tokens[s].length; i++) {
                            tokens[s][i] = 3 + rnd.nextInt(vocab - 3);
                        }
                        together[s] = pass.newKvCache(64);
                        alone[s] = pass.newKvCache(64);
                        positions[s] = 1 + s % 7; // prompts of different lengths: different positions
                        float[] l = new float[vocab];
                        pass.forward(together[s], tokens[s], 0, positions[s], 0, l);
                        pass.forward(alone[s], tokens[s], 0, positions[s], 0, l);
                    }
                    float[][] got = new float[batch][vocab];
                    float[] want = new float[vocab];
                    int[] next = new int[batch];
                    for (int step = 0; step < 3; step++) {
                        for (int s = 0; s < batch; s++) {
                            next[s] = tokens[s][positions[s]];
                        }
                        pass.forwardBatch(together, next, positions, batch, got);
                        for (int s = 0; s < batch; s++) {
                            pass.forward(alone[s], tokens[s], positions[s], 1, positions[s], want);
                            double err = GpuTests.relErr(got[s], want);
                            worst = Math.max(worst, err);
                            for (int i = 0; i < vocab; i++) {
                                exact += Float.floatToRawIntBits(got[s][i]) == Float.floatToRawIntBits(want[i]) ? 1 : 0;
                            }
                            total += vocab;
                            assertTrue(err <= TOL_MODEL, label + " batch " + batch + " step " + step + " sequence " + s
                                    + ": relErr " + err + " > " + TOL_MODEL);
                            positions[s]++;
                        }
                    }
                } finally {
                    for (int s = 0; s < batch; s++) {
                        if (together[s] != null) {
                            together[s].close();
                        }
                        if (alone[s] != null) {
                            alone[s].close();
                        }
                    }
                }
            }
            GpuTests.report(String.format("batched decode %-22s B=2,5,13,16 vs alone: relErr=%.2e, bit-identical %d/%d",
                    label, worst, exact, total));
        }
    }

    /**
     * Graphs on and off give the same logits, bit for bit, while the batch's sequences change: five sequences for
     * four steps (direct, captured, replayed, replayed), four of them (one left), then the five again (the graph of
     * size five still holds their caches), then a size-five batch with a new sequence in place of one.
     */
    @Test
    void batchGraphsEqualDirectLaunchesWhileSequencesChange() {
        Path path = tmp.resolve("batch-graphs.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.Q4_K_M), path);
        int[][] schedule = {{0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {0, 2, 3, 4},
            {0, 2, 3, 4}, {0, 2, 3, 4}, {0, 1, 2, 3, 4}, {0, 1, 2, 3, 4}, {5, 1, 2, 3, 4}, {5, 1, 2, 3, 4},
            {5, 1, 2, 3, 4}};
        try (CudaBackend gpu = new CudaBackend(0); Model model = Model.load(path)) {
            int vocab = model.config().vocabularySize();
            float[][][] out = new float[2][][];
            for (int mode = 0; mode < 2; mode++) {
                io.offload4j.offload.OffloadOptions options =
                        io.offload4j.offload.OffloadOptions.DEFAULTS.withGraphs(mode == 0);
                try (TieredForwardPass pass = Passes.on(gpu, model, 64, 16, options)) {
                    KvCache[] all = new KvCache[6];
                    int[] pos = new int[6];
                    java.util.List<float[]> logits = new java.util.ArrayList<>();
                    try {
                        SplittableRandom rnd = new SplittableRandom(5);
                        float[] l = new float[vocab];
                        int[] prompt = new int[4];
                        for (int s = 0; s < all.length; s++) {
                            all[s] = pass.newKvCache(64);
                            for (int i = 0; i < prompt.length; i++) {
                                prompt[i] = 3 + rnd.nextInt(vocab - 3);
                            }
                            pos[s] = 1 + s;
                            pass.forward(all[s], prompt, 0, pos[s], 0, l);
                        }
                        for (int[] members : schedule) {
                            int n = members.length;
                            KvCache[] caches = new KvCache[n];
                            int[] tokens = new int[n];
                            int[] positions = new int[n];
                            float[][] got = new float[n][vocab];
                            for (int b = 0; b < n; b++) {
                                caches[b] = all[members[b]];
                                tokens[b] = 3 + (7 * pos[members[b]] + members[b]) % (vocab - 3);
                                positions[b] = pos[members[b]]++;
                            }
                            pass.forwardBatch(caches, tokens, positions, n, got);
                            logits.addAll(java.util.Arrays.asList(got));
                        }
                    } finally {
                        for (KvCache c : all) {
                            if (c != null) {
                                c.close();
                            }
                        }
                    }
                    out[mode] = logits.toArray(new float[0][]);
                }
            }
            for (int i = 0; i < out[0].length; i++) {
                assertTrue(java.util.Arrays.equals(out[0][i], out[1][i]), "logits row " + i
                        + " differ between graph replay and direct launches: relErr "
                        + GpuTests.relErr(out[0][i], out[1][i]));
            }
            GpuTests.report("batched graphs vs direct launches: " + out[0].length + " logit rows bit-identical");
        }
    }

    /**
     * {@link CudaBatchGraphs}' rule, on a one-node step (a memset of a counter's value at enqueue time): a new set of
     * caches runs directly, the same set in the next step is captured, then replayed (the captured value); another set
     * of the same size runs directly and leaves the graph alone until it recurs in the next step and replaces it.
     */
    @Test
    void batchGraphsCaptureOnTheSecondSightingAndReplayAfter() {
        device.makeCurrent();
        KvCache a = fakeCache();
        KvCache b = fakeCache();
        KvCache c = fakeCache();
        try (GpuTests.Buffers buf = new GpuTests.Buffers(); CudaBatchGraphs graphs = new CudaBatchGraphs(stream, 8)) {
            CUdeviceptr cell = buf.alloc(4);
            int[] counter = {0};
            Runnable enqueue = () -> jcuda.driver.JCudaDriver.cuMemsetD32Async(cell, ++counter[0], 1, stream);
            KvCache[] ab = {a, b};
            KvCache[] cb = {c, b};
            // {caches, expected return (enqueue ran), expected cell value afterwards}
            Object[][] steps = {{ab, true, 1}, {ab, true, 2}, {ab, false, 2}, {ab, false, 2}, {cb, true, 3},
                {ab, false, 2}, {cb, true, 4}, {cb, false, 4}, {ab, true, 5}, {ab, true, 6}, {ab, false, 6}};
            for (int i = 0; i < steps.length; i++) {
                boolean ran = graphs.run((KvCache[]) steps[i][0], 2, enqueue);
                cuStreamSynchronize(stream);
                int value = Float.floatToRawIntBits(GpuTests.Buffers.floats(cell, 1)[0]);
                assertTrue(ran == (boolean) steps[i][1], "step " + i + ": enqueue ran " + ran);
                assertTrue(value == (int) steps[i][2], "step " + i + ": cell " + value + ", expected " + steps[i][2]);
            }
            assertTrue(graphs.captures() == 3, "captures " + graphs.captures());
        }
    }

    private static KvCache fakeCache() {
        return new KvCache() {
            @Override
            public int capacity() {
                return 1;
            }

            @Override
            public long byteSize() {
                return 0;
            }

            @Override
            public void close() {}
        };
    }

    /** Argument checks of the launcher (no kernel runs). */
    @Test
    void launcherRefusesBadRowCounts() {
        device.makeCurrent();
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr p = buf.alloc(4096);
            for (int nt : new int[] {0, CudaKernels.BATCHED_MAX_ROWS + 1}) {
                IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                        IllegalArgumentException.class, () -> kernels.matvecBatched(stream, GgmlType.F16, nt,
                                CudaKernels.STORE, p, null, null, 4, 0, 0, 512, 256, p, p, null, null, null, 0f));
                assertTrue(e.getMessage().contains("nt must be"), e.getMessage());
            }
        }
    }
}

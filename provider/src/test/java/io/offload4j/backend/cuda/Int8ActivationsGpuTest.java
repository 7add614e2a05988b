package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemcpyDtoH;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The projections on 8-bit activations ({@code matvec_x8.cuh}): the quantized row against its definition, each
 * format's single-token products against double dot products over {@link RefDequant}'s weights, two ways, and steps of
 * several tokens against single-token launches. With activations
 * that 8 bits hold exactly (integers up to 127, every block of 32 reaching 127, so its scale is 1) the kernels must
 * agree with the reference to fp32 accumulation: any misplaced quant, scale or sum shows there. With random
 * activations (and the fused norm) they must stay within what rounding activations to 8 bits costs.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class Int8ActivationsGpuTest {

    static final GgmlType[] FORMATS = {GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K,
        GgmlType.Q6_K};
    /** Exact activations: only the fp32 sums differ from the double reference. */
    static final double TOL_EXACT = 1e-5;
    /**
     * Random activations: 8-bit rounding errs by up to 1/254 of a block's largest value per element; over a row the
     * errors mostly cancel (measured on the H100: 3e-3 to 9e-3 normwise, 1.25e-2 for SwiGLU after the norm, the product
     * of two rounded sums); the bound leaves room without hiding a wrong index, which the exact case catches.
     */
    static final double TOL_ROUNDED = 2e-2;

    static GpuTests.KernelSession gpu;
    static CudaInt8Kernels int8;

    @BeforeAll
    static void open() {
        gpu = GpuTests.KernelSession.open();
        int8 = new CudaInt8Kernels(gpu.kernels, CudaInt8Kernels.MAX_STEP_TOKENS);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    @Test
    void formatsWithoutKernelsAreNotOffered() {
        for (GgmlType t : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q5_0, GgmlType.Q2_K,
                GgmlType.Q3_K, GgmlType.IQ4_XS}) {
            assertFalse(int8.applies(t, 4096, 1), t.name());
        }
        for (GgmlType t : FORMATS) {
            for (int tokens = 1; tokens <= CudaInt8Kernels.MAX_STEP_TOKENS; tokens++) {
                assertTrue(int8.applies(t, 4096, tokens), t.name() + ", " + tokens + " tokens");
            }
            assertFalse(int8.applies(t, 4096, CudaInt8Kernels.MAX_STEP_TOKENS + 1), t.name());
        }
    }

    /** xq, the scale per 32 and the sum per 16 as the kernel's header defines them, with and without the norm. */
    @Test
    void quantizedRowFollowsItsDefinition() {
        gpu.device.makeCurrent();
        int cols = 3072;
        float eps = 1e-5f;
        SplittableRandom rnd = new SplittableRandom(11);
        float[] x = CudaKernelsGpuTest.randomFloats(rnd, cols, 3.0);
        x[5] = 0; // a block of zeros: scale 0, quants 0
        for (int i = 64; i < 96; i++) {
            x[i] = 0;
        }
        float[] g = CudaKernelsGpuTest.randomFloats(rnd, cols, 1.5);
        for (boolean norm : new boolean[] {false, true}) {
            float[] v = norm ? normalised(x, g, eps) : x;
            try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
                CUdeviceptr xq = buf.alloc(cols);
                CUdeviceptr xd = buf.alloc(4L * cols / 32);
                CUdeviceptr xs = buf.alloc(4L * cols / 16);
                int8.quantize(gpu.stream, buf.of(x), norm ? buf.of(g) : null, eps, cols, xq, xd, xs, 1);
                cuStreamSynchronize(gpu.stream);
                byte[] q = new byte[cols];
                cuMemcpyDtoH(Pointer.to(q), xq, cols);
                float[] d = GpuTests.Buffers.floats(xd, cols / 32);
                float[] s = GpuTests.Buffers.floats(xs, cols / 16);
                int off = 0;
                for (int b = 0; b < cols / 32; b++) {
                    float amax = 0;
                    for (int i = 0; i < 32; i++) {
                        amax = Math.max(amax, Math.abs(v[32 * b + i]));
                    }
                    assertEquals(amax / 127f, d[b], 1e-6f * amax, "scale of block " + b + " (norm " + norm + ")");
                    for (int i = 0; i < 32; i++) {
                        int want = amax == 0 ? 0 : (int) Math.rint(v[32 * b + i] / d[b]);
                        // the kernel's normalised value may differ from this one in the last bit
                        off = Math.max(off, Math.abs(want - q[32 * b + i]));
                    }
                }
                assertTrue(off <= 1, "quants off by " + off);
                for (int h = 0; h < cols / 16; h++) {
                    double want = 0;
                    double mag = 0;
                    for (int i = 0; i < 16; i++) {
                        want += v[16 * h + i];
                        mag += Math.abs(v[16 * h + i]);
                    }
                    assertEquals(want, s[h], 1e-5 * mag + 1e-30, "sum of values " + 16 * h + ".. (norm " + norm + ")");
                }
            }
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType t : FORMATS) {
            for (int cols : new int[] {3072, 256}) {
                for (int mode : new int[] {CudaKernels.STORE, CudaKernels.ADD, CudaKernels.SWIGLU}) {
                    list.add(Arguments.of(t, cols, mode, false));
                    if (mode != CudaKernels.ADD) {
                        list.add(Arguments.of(t, cols, mode, true));
                    }
                }
            }
        }
        return list.stream();
    }

    /**
     * One format, row length and mode (67 rows: the last warp of a pair launch has one row): exact activations without
     * the norm, then random ones with and without it.
     */
    @ParameterizedTest(name = "{0} cols={1} mode={2} norm={3}")
    @MethodSource("cases")
    void projectionMatchesReference(GgmlType type, int cols, int mode, boolean norm) {
        gpu.device.makeCurrent();
        int rows = 67;
        float eps = 1e-5f;
        SplittableRandom rnd = new SplittableRandom(type.ordinal() * 1000L + cols + mode + (norm ? 7 : 0));
        byte[] w0 = RefDequant.randomRows(type, rows, cols, rnd);
        byte[] w1 = RefDequant.randomRows(type, rows, cols, rnd);
        float[] yInit = CudaKernelsGpuTest.randomFloats(rnd, rows, 1.0);
        if (!norm) {
            double err = run(type, cols, mode, rows, w0, w1, exactActivations(rnd, cols), null, eps, yInit);
            GpuTests.report(String.format("x8 %-5s cols=%4d mode=%d exact activations relErr=%.2e", type, cols, mode, err));
            assertTrue(err <= TOL_EXACT, type + " exact activations: relErr " + err);
        }
        float[] x = CudaKernelsGpuTest.randomFloats(rnd, cols, 2.0);
        float[] g = norm ? CudaKernelsGpuTest.randomFloats(rnd, cols, 1.5) : null;
        double err = run(type, cols, mode, rows, w0, w1, x, g, eps, yInit);
        GpuTests.report(String.format("x8 %-5s cols=%4d mode=%d norm=%-5b random activations relErr=%.2e", type, cols,
                mode, norm, err));
        assertTrue(err <= TOL_ROUNDED, type + " random activations: relErr " + err);
    }

    static Stream<Arguments> multiTokenCases() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType t : FORMATS) {
            for (int mode : new int[] {CudaKernels.STORE, CudaKernels.ADD, CudaKernels.SWIGLU}) {
                for (int tokens = 2; tokens <= CudaInt8Kernels.MAX_TOKENS; tokens++) {
                    list.add(Arguments.of(t, mode, tokens));
                }
            }
        }
        return list.stream();
    }

    /**
     * A step of 2 to {@link CudaInt8Kernels#MAX_TOKENS} tokens (67 weight rows: a pair launch's last warp has one row):
     * each token's outputs must equal a single-token launch on that token's own quantized row, which
     * {@link #projectionMatchesReference} checks against the reference. The tokens' activations (and, in ADD mode, their
     * outputs' initial values) all differ, so a token that read another's row, scales or sums, or wrote another's
     * outputs, shows. The kernels sum each token in the order a single-token launch does; the report says how many
     * outputs came out bit for bit equal.
     */
    @ParameterizedTest(name = "{0} mode={1} tokens={2}")
    @MethodSource("multiTokenCases")
    void multiTokenStepEqualsItsTokensAlone(GgmlType type, int mode, int tokens) {
        gpu.device.makeCurrent();
        int rows = 67;
        int cols = 3072;
        float eps = 1e-5f;
        boolean norm = mode != CudaKernels.ADD;
        SplittableRandom rnd = new SplittableRandom(type.ordinal() * 100L + mode * 10L + tokens);
        byte[] w0 = RefDequant.randomRows(type, rows, cols, rnd);
        byte[] w1 = RefDequant.randomRows(type, rows, cols, rnd);
        float[] x = CudaKernelsGpuTest.randomFloats(rnd, tokens * cols, 2.0);
        float[] g = norm ? CudaKernelsGpuTest.randomFloats(rnd, cols, 1.5) : null;
        float[] yInit = CudaKernelsGpuTest.randomFloats(rnd, tokens * rows, 1.0);
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr xq = buf.alloc((long) tokens * cols);
            CUdeviceptr xd = buf.alloc(4L * tokens * cols / 32);
            CUdeviceptr xs = buf.alloc(4L * tokens * cols / 16);
            CUdeviceptr dw0 = buf.of(w0);
            CUdeviceptr dw1 = mode == CudaKernels.SWIGLU ? buf.of(w1) : null;
            int8.quantize(gpu.stream, buf.of(x), norm ? buf.of(g) : null, eps, cols, xq, xd, xs, tokens);
            CUdeviceptr together = buf.of(yInit);
            int8.matvec(gpu.stream, type, tokens, mode, dw0, dw1, null, rows, 0, 0, rowBytes, cols, xq, xd, xs,
                    together, null, null);
            CUdeviceptr alone = buf.of(yInit);
            for (int t = 0; t < tokens; t++) {
                int8.matvec(gpu.stream, type, 1, mode, dw0, dw1, null, rows, 0, 0, rowBytes, cols,
                        xq.withByteOffset((long) t * cols), xd.withByteOffset(4L * t * cols / 32),
                        xs.withByteOffset(4L * t * cols / 16), alone.withByteOffset(4L * t * rows), null, null);
            }
            cuStreamSynchronize(gpu.stream);
            float[] want = GpuTests.Buffers.floats(alone, tokens * rows);
            float[] got = GpuTests.Buffers.floats(together, tokens * rows);
            int differing = 0;
            double[] ref = new double[want.length];
            for (int i = 0; i < want.length; i++) {
                ref[i] = want[i];
                if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                    differing++;
                }
            }
            double err = GpuTests.relErr(got, ref);
            GpuTests.report(String.format("x8 %-5s mode=%d tokens=%d against single-token launches: relErr=%.2e, "
                    + "%d of %d outputs differ in any bit", type, mode, tokens, err, differing, want.length));
            assertTrue(err <= 1e-6, type + " mode " + mode + ", " + tokens + " tokens: relErr " + err
                    + " against single-token launches");
        }
    }

    /** The kernels' output against the double reference, normwise relative error. */
    private static double run(GgmlType type, int cols, int mode, int rows, byte[] w0, byte[] w1, float[] xRaw,
                              float[] g, float eps, float[] yInit) {
        float[] x = g == null ? xRaw : normalised(xRaw, g, eps);
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        double[] ref = new double[rows];
        for (int r = 0; r < rows; r++) {
            double d = CudaKernelsGpuTest.dot(RefDequant.row(type, w0, r * rowBytes, cols), x, 0);
            ref[r] = switch (mode) {
                case CudaKernels.STORE -> d;
                case CudaKernels.ADD -> yInit[r] + d;
                default -> CudaKernelsGpuTest.silu(d)
                        * CudaKernelsGpuTest.dot(RefDequant.row(type, w1, r * rowBytes, cols), x, 0);
            };
        }
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr xq = buf.alloc(cols);
            CUdeviceptr xd = buf.alloc(4L * cols / 32);
            CUdeviceptr xs = buf.alloc(4L * cols / 16);
            CUdeviceptr dy = buf.of(yInit);
            int8.quantize(gpu.stream, buf.of(xRaw), g == null ? null : buf.of(g), eps, cols, xq, xd, xs, 1);
            int8.matvec(gpu.stream, type, 1, mode, buf.of(w0), mode == CudaKernels.SWIGLU ? buf.of(w1) : null, null,
                    rows, 0, 0, rowBytes, cols, xq, xd, xs, dy, null, null);
            cuStreamSynchronize(gpu.stream);
            return GpuTests.relErr(GpuTests.Buffers.floats(dy, rows), ref);
        }
    }

    /** Integers in [-127, 127], each block of 32 holding ±127: 8 bits hold them exactly, with a scale of 1. */
    private static float[] exactActivations(SplittableRandom rnd, int cols) {
        float[] x = new float[cols];
        for (int i = 0; i < cols; i++) {
            x[i] = rnd.nextInt(255) - 127;
        }
        for (int b = 0; b < cols / 32; b++) {
            x[32 * b + rnd.nextInt(32)] = rnd.nextBoolean() ? 127 : -127;
        }
        return x;
    }

    /** x · rsqrt(mean(x²) + eps) · g, in the order the kernels compute it. */
    private static float[] normalised(float[] x, float[] g, float eps) {
        float ss = 0;
        for (float v : x) {
            ss += v * v;
        }
        float scale = (float) (1.0 / Math.sqrt(ss / x.length + eps));
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = x[i] * scale * g[i];
        }
        return out;
    }
}

package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The small-batch GEMM of batched decode steps ({@code gemm_small_<fmt>_t<1|2|4>}), every format it takes, against
 * the path it replaces and a double reference. Split over 1, 2 or 4 blocks per tile it must stay within fp32 rounding
 * of the double product of the fp16 operands and of what dequant_f16 + gemm_f16 give (the same fp16 operands, summed
 * in another order), and give the same floats launch after launch (the tile's last block adds the partials in order
 * and resets its counter). Three matrices share each launch (segments), every row-tile variant runs (1, 9, 16 rows:
 * one tile; 17, 32: two; 33, 64: four), storing and accumulating.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class SmallGemmGpuTest {

    private static final int[] ROWS = {128, 256, 128};   // gemm_f16 needs multiples of 128 to be the reference
    private static final int K = 1024;                    // four chunks: splits of 1, 2 and 4
    private static final int MAX_M = CudaKernels.SMALL_GEMM_MAX_ROWS;

    static GpuTests.KernelSession gpu;

    @BeforeAll
    static void open() {
        gpu = GpuTests.KernelSession.open();
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    static Stream<GgmlType> formats() {
        return Stream.of(CudaKernelsGpuTest.FORMATS).filter(t -> t != GgmlType.F32);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void equalsDequantGemmAndADoubleReference(GgmlType type) {
        gpu.device.makeCurrent();
        SplittableRandom rnd = new SplittableRandom(31L * type.ordinal() + 7);
        int rowBytes = Math.toIntExact(type.bytesFor(K));
        byte[][] w = new byte[3][];
        float[][] w16 = new float[3][];           // the weights as the kernels multiply them: decoded, rounded to fp16
        for (int s = 0; s < 3; s++) {
            w[s] = RefDequant.randomRows(type, ROWS[s], K, rnd);
            w16[s] = new float[ROWS[s] * K];
            for (int r = 0; r < ROWS[s]; r++) {
                float[] row = RefDequant.row(type, w[s], r * rowBytes, K);
                for (int i = 0; i < K; i++) {
                    w16[s][r * K + i] = Float.float16ToFloat(Float.floatToFloat16(row[i]));
                }
            }
        }
        short[] a = new short[MAX_M * K];
        for (int i = 0; i < a.length; i++) {
            a[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
        }
        long partialFloats = CudaKernels.smallGemmPartialFloats(CudaKernels.SMALL_GEMM_TARGET_BLOCKS);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr[] dw = new CUdeviceptr[3];
            CUdeviceptr[] d16 = new CUdeviceptr[3];
            for (int s = 0; s < 3; s++) {
                dw[s] = buf.of(w[s]);
                d16[s] = buf.alloc(2L * ROWS[s] * K);
                gpu.kernels.dequantF16(gpu.stream, type, dw[s], rowBytes, ROWS[s], K, d16[s]);
            }
            CUdeviceptr da = buf.of(a);
            CUdeviceptr partial = buf.alloc(4 * partialFloats);
            CUdeviceptr counters = buf.of(new int[1024]);
            double worst = 0;
            double worstPath = 0;
            for (int m : new int[] {1, 9, 16, 17, 32, 33, 64}) {
                for (boolean accumulate : new boolean[] {false, true}) {
                    float[][] start = new float[3][];
                    for (int s = 0; s < 3; s++) {
                        start[s] = CudaKernelsGpuTest.randomFloats(rnd, m * ROWS[s], 1);
                    }
                    // the path this kernel replaces: dequantize, then the prefill GEMM
                    float[][] want = new float[3][];
                    for (int s = 0; s < 3; s++) {
                        CUdeviceptr y = buf.of(start[s]);
                        gpu.kernels.gemm(gpu.stream, da, d16[s], y, m, ROWS[s], K, accumulate);
                        cuStreamSynchronize(gpu.stream);
                        want[s] = GpuTests.Buffers.floats(y, m * ROWS[s]);
                    }
                    for (int splits : new int[] {1, 2, 4}) {
                        float[][] first = null;
                        for (int repeat = 0; repeat < 2; repeat++) {
                            CUdeviceptr[] y = {buf.of(start[0]), buf.of(start[1]), buf.of(start[2])};
                            gpu.kernels.gemmSmall(gpu.stream, type, dw[0], dw[1], dw[2], ROWS[0], ROWS[1], ROWS[2], rowBytes,
                                    K, da, y[0], y[1], y[2], m, accumulate, splits, partial, counters);
                            cuStreamSynchronize(gpu.stream);
                            float[][] got = new float[3][];
                            for (int s = 0; s < 3; s++) {
                                got[s] = GpuTests.Buffers.floats(y[s], m * ROWS[s]);
                                String what = type + " m=" + m + " splits=" + splits + " accumulate=" + accumulate
                                        + " segment " + s;
                                double errPath = GpuTests.relErr(got[s], want[s]);
                                worstPath = Math.max(worstPath, errPath);
                                assertTrue(errPath <= 1e-5, what + ": vs dequant + gemm_f16 relErr " + errPath);
                                double err = GpuTests.relErr(got[s], reference(w16[s], a, start[s], m, ROWS[s],
                                        accumulate));
                                worst = Math.max(worst, err);
                                assertTrue(err <= 1e-4, what + ": relErr " + err);
                            }
                            if (first == null) {
                                first = got;
                            } else {
                                for (int s = 0; s < 3; s++) {
                                    assertArrayEquals(first[s], got[s], 0f, type + " m=" + m + " splits=" + splits
                                            + ": a second launch differs (counters not reset?)");
                                }
                            }
                        }
                    }
                }
            }
            GpuTests.report(String.format("gemm_small %-6s: worst relErr vs double %.2e, vs dequant+gemm_f16 %.2e",
                    type, worst, worstPath));
        }
    }

    /** start (+) A[m][K] · W^T in double, W [rows][K]. */
    private static double[] reference(float[] w, short[] a, float[] start, int m, int rows, boolean accumulate) {
        double[] out = new double[m * rows];
        for (int t = 0; t < m; t++) {
            for (int r = 0; r < rows; r++) {
                double s = accumulate ? start[t * rows + r] : 0;
                for (int i = 0; i < K; i++) {
                    s += (double) Float.float16ToFloat(a[t * K + i]) * w[r * K + i];
                }
                out[t * rows + r] = s;
            }
        }
        return out;
    }
}

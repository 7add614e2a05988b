package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A one-token step's attention ({@link CudaKernels#attnDecode}, a block per query head and split) against a
 * double-precision reference: shapes of real models for each specialised head size (64, 128, 256) and for head sizes
 * read at run time (80, 96), a Gemma-like window and soft-cap over a ring, partial tiles of keys; the splits the engine
 * would take, unsplit, and 8; each launch twice (the split counters must be back at zero).
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class AttentionDecodeGpuTest {

    static final double TOL = 1e-4;

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

    @ParameterizedTest(name = "{0}: {1}/{2} heads of {3}, position {4}, window {5}, ring {6}, cap {7}")
    @CsvSource({
        "Qwen3-30B-A3B, 32, 4, 128, 200, 0, 0, 0",
        "Llama 3.2 3B, 24, 8, 128, 1000, 0, 0, 0",
        "Qwen2.5 0.5B, 14, 2, 64, 37, 0, 0, 0",
        "one query head per key/value head, 8, 8, 64, 5, 0, 0, 0",
        "'Gemma 2 (window, ring, soft-cap)', 8, 4, 256, 150, 40, 64, 50",
        "head size 80 (read at run time), 12, 4, 80, 70, 0, 0, 0",
        "head size 96 (read at run time), 32, 32, 96, 300, 0, 0, 0",
        "a long context, 16, 8, 128, 3000, 0, 0, 0"})
    void equalsReference(String model, int heads, int kvHeads, int hd, int pos, int window, int ring, float cap) {
        gpu.device.makeCurrent();
        int kvDim = kvHeads * hd;
        int n = pos + 1;
        float scale = (float) (1.0 / Math.sqrt(hd));
        SplittableRandom rnd = new SplittableRandom(heads * 131L + pos);
        float[] q = new float[heads * hd];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        short[] kc = new short[n * kvDim];
        short[] vc = new short[n * kvDim];
        for (int i = 0; i < kc.length; i++) {
            kc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
            vc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
        }
        double[] ref = new double[q.length];
        for (int h = 0; h < heads; h++) {
            GemmaKernelsGpuTest.attend(q, h * hd, kc, vc, pos, window > 0 ? window : n, scale, cap, kvDim,
                    (h / (heads / kvHeads)) * hd, hd, ref, h * hd);
        }
        short[] kd = ring > 0 ? BatchAttentionGpuTest.asRing(kc, n, ring, kvDim) : kc;
        short[] vd = ring > 0 ? BatchAttentionGpuTest.asRing(vc, n, ring, kvDim) : vc;
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dq = buf.of(q);
            CUdeviceptr dk = buf.of(kd);
            CUdeviceptr dv = buf.of(vd);
            CUdeviceptr params = buf.of(new int[] {pos, 1});
            CudaKernels.AttentionShape shape = new CudaKernels.AttentionShape(scale, cap, window, ring);
            int engineSplits = Math.clamp(2L * 132 / heads, 1, 32); // CudaModel's rule on an H100
            for (int splits : new int[] {engineSplits, 1, 8}) {
                CUdeviceptr part = buf.alloc(4L * CudaKernels.attnPartialFloats(heads, hd, splits));
                CUdeviceptr counters = buf.of(new int[heads]);
                for (int round = 0; round < 2; round++) {
                    CUdeviceptr out = buf.alloc(4L * q.length);
                    gpu.kernels.attnDecode(gpu.stream, dq, dk, dv, params, part, counters, out, heads, kvHeads, hd, splits,
                            shape);
                    cuStreamSynchronize(gpu.stream);
                    double err = GpuTests.relErr(GpuTests.Buffers.floats(out, q.length), ref);
                    String what = String.format("one-token attention, %s, %d splits, launch %d", model, splits,
                            round + 1);
                    GpuTests.report(String.format("%s: relErr %.2e", what, err));
                    assertTrue(err <= TOL, what + ": " + err);
                }
            }
        }
    }
}

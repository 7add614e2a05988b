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
 * A batched decode step's attention ({@link CudaKernels#attnDecodeBatch}: the grouped kernel, a block per key/value
 * head, where the head shape has an instance, else the per-head one) against a double-precision reference of each
 * sequence alone: B sequences at their own positions in their own caches, through the step's tables; with the splits
 * the engine chooses ({@link CudaKernels#batchAttentionSplits}), unsplit, and 8 splits; each launch twice (the split
 * counters must be back at zero). Shapes of real models, a Gemma-like window and soft-cap over a ring, a group of 8
 * and a head size without a grouped instance.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class BatchAttentionGpuTest {

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

    @ParameterizedTest(name = "{0}: {1}/{2} heads of {3}, {4} sequences, window {5}, ring {6}, cap {7}")
    @CsvSource({
        "Llama 3.2 3B, 24, 8, 128, 16, 0, 0, 0",
        "Qwen2.5 0.5B, 14, 2, 64, 5, 0, 0, 0",
        "group of 8, 16, 2, 128, 4, 0, 0, 0",
        "'Gemma 2 (window, ring, soft-cap)', 8, 4, 256, 3, 40, 64, 50",
        "head of 80 (per-head kernel), 4, 4, 80, 4, 0, 0, 0"})
    void eachSequenceGetsItsOwnAttention(String model, int heads, int kvHeads, int hd, int batch, int window,
                                          int ring, float cap) {
        gpu.device.makeCurrent();
        int kvDim = kvHeads * hd;
        float scale = (float) (1.0 / Math.sqrt(hd));
        SplittableRandom rnd = new SplittableRandom(heads * 31L + batch);
        float[] q = new float[batch * heads * hd];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        double[] ref = new double[q.length];
        long[] table = new long[2 * batch];
        int[] seqParams = new int[4 * batch];
        int[] rings = new int[batch];
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            for (int t = 0; t < batch; t++) {
                int pos = 3 + 37 * t + rnd.nextInt(30); // positions 3.. a few hundred, all different
                int n = pos + 1;
                short[] kc = new short[n * kvDim];
                short[] vc = new short[n * kvDim];
                for (int i = 0; i < kc.length; i++) {
                    kc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
                    vc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
                }
                for (int h = 0; h < heads; h++) {
                    // the reference's window counts positions: without one, all pos + 1 of them
                    GemmaKernelsGpuTest.attend(q, (t * heads + h) * hd, kc, vc, pos, window > 0 ? window : n, scale,
                            cap, kvDim,
                            (h / (heads / kvHeads)) * hd, hd, ref, (t * heads + h) * hd);
                }
                short[] kd = ring > 0 ? asRing(kc, n, ring, kvDim) : kc;
                short[] vd = ring > 0 ? asRing(vc, n, ring, kvDim) : vc;
                table[2 * t] = GpuTests.Buffers.address(buf.of(kd));
                table[2 * t + 1] = GpuTests.Buffers.address(buf.of(vd));
                seqParams[4 * t] = pos;
                rings[t] = ring;
            }
            CUdeviceptr dq = buf.of(q);
            CUdeviceptr dTable = buf.of(table);
            CUdeviceptr dRings = buf.of(rings);
            CUdeviceptr dParams = buf.of(seqParams);
            int engineSplits = Math.clamp(2L * 132 / heads, 1, 32); // CudaModel's rule on an H100
            int chosen = gpu.kernels.batchAttentionSplits(heads, kvHeads, hd, batch, engineSplits);
            CudaKernels.AttentionShape shape = new CudaKernels.AttentionShape(scale, cap, window, 0);
            for (int splits : new int[] {chosen, 1, 8}) {
                CUdeviceptr part = buf.alloc(4L * CudaKernels.attnPartialFloats(heads, hd, batch * splits));
                CUdeviceptr counters = buf.of(new int[heads * batch]);
                for (int round = 0; round < 2; round++) {
                    CUdeviceptr out = buf.alloc(4L * q.length);
                    gpu.kernels.attnDecodeBatch(gpu.stream, dq, dTable, dRings, dParams, part, counters, out, heads, kvHeads,
                            hd, splits, batch, shape);
                    cuStreamSynchronize(gpu.stream);
                    double err = GpuTests.relErr(GpuTests.Buffers.floats(out, q.length), ref);
                    GpuTests.report(String.format("batch attention %s, %d splits (engine: %d), launch %d: relErr"
                            + " %.2e", model, splits, chosen, round + 1, err));
                    assertTrue(err <= TOL, model + ", " + splits + " splits, launch " + (round + 1) + ": " + err);
                }
            }
        }
    }

    /**
     * Rows of positions 0..n-1 as a sliding block's cache keeps them: position p at rows p mod R and p mod R + R
     * (CudaKvCache), for the last R positions.
     */
    static short[] asRing(short[] rows, int n, int ring, int kvDim) {
        short[] out = new short[2 * ring * kvDim];
        for (int p = Math.max(0, n - ring); p < n; p++) {
            for (int copy = 0; copy < 2; copy++) {
                System.arraycopy(rows, p * kvDim, out, (p % ring + copy * ring) * kvDim, kvDim);
            }
        }
        return out;
    }
}

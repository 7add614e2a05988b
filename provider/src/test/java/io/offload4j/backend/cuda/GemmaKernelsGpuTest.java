package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * Gemma's kernels against references written here: windowed, soft-capped attention over a ring KV cache (prefill and
 * decode, several splits), the ring writes of qkv_post, GeGLU, the post-norm add and the logit soft-cap.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class GemmaKernelsGpuTest {

    static final double TOL = 1e-3;

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

    /**
     * Queries at positions 281..299 of a sequence whose sliding block keeps a ring of R = 64 rows (each position at
     * row p mod R and p mod R + R), window 40, scale 0.3, soft-cap 2: what attention over positions p-39..p of the
     * plain sequence gives.
     */
    @Test
    void windowedSoftcappedAttentionOverARing() {
        gpu.device.makeCurrent();
        int heads = 8;
        int kvHeads = 2;
        int hd = 64;
        int kvDim = kvHeads * hd;
        int n = 300;
        int window = 40;
        int ring = 64;
        float scale = 0.3f;
        float cap = 2f;
        SplittableRandom rnd = new SplittableRandom(7);
        short[] kc = new short[n * kvDim];
        short[] vc = new short[n * kvDim];
        for (int i = 0; i < kc.length; i++) {
            kc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
            vc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
        }
        short[] kr = new short[2 * ring * kvDim];
        short[] vr = new short[2 * ring * kvDim];
        for (int p = n - ring; p < n; p++) { // the ring after writing positions up to n - 1
            for (int copy = 0; copy < 2; copy++) {
                int row = p % ring + copy * ring;
                System.arraycopy(kc, p * kvDim, kr, row * kvDim, kvDim);
                System.arraycopy(vc, p * kvDim, vr, row * kvDim, kvDim);
            }
        }
        int count = 19;
        int pos0 = n - count;
        float[] q = new float[count * heads * hd];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (rnd.nextDouble() * 4 - 2);
        }
        double[] ref = new double[q.length];
        for (int t = 0; t < count; t++) {
            for (int h = 0; h < heads; h++) {
                attend(q, (t * heads + h) * hd, kc, vc, pos0 + t, window, scale, cap, kvDim,
                        (h / (heads / kvHeads)) * hd, hd, ref, (t * heads + h) * hd);
            }
        }
        CudaKernels.AttentionShape shape = new CudaKernels.AttentionShape(scale, cap, window, ring);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dk = buf.of(kr);
            CUdeviceptr dv = buf.of(vr);
            CUdeviceptr out = buf.alloc(4L * q.length);
            gpu.kernels.attnPrefill(gpu.stream, buf.of(q), dk, dv, buf.of(new int[] {pos0, count}), out, count, heads, kvHeads,
                    hd, shape);
            cuStreamSynchronize(gpu.stream);
            double err = GpuTests.relErr(GpuTests.Buffers.floats(out, q.length), ref);
            GpuTests.report(String.format("gemma attn_prefill window %d ring %d cap %.0f relErr=%.2e", window, ring,
                    cap, err));
            assertTrue(err <= TOL, "prefill relErr " + err);
            float[] lastQ = new float[heads * hd];
            System.arraycopy(q, (count - 1) * heads * hd, lastQ, 0, heads * hd);
            double[] lastRef = new double[heads * hd];
            System.arraycopy(ref, (count - 1) * heads * hd, lastRef, 0, heads * hd);
            for (int splits : new int[] {1, 3, 32}) {
                CUdeviceptr part = buf.alloc(4L * CudaKernels.attnPartialFloats(heads, hd, splits));
                CUdeviceptr o = buf.alloc(4L * heads * hd);
                CUdeviceptr counters = buf.of(new int[heads]);
                gpu.kernels.attnDecode(gpu.stream, buf.of(lastQ), dk, dv, buf.of(new int[] {n - 1, 1}), part, counters, o,
                        heads, kvHeads, hd, splits, shape);
                cuStreamSynchronize(gpu.stream);
                double e = GpuTests.relErr(GpuTests.Buffers.floats(o, heads * hd), lastRef);
                GpuTests.report(String.format("gemma attn_decode window %d splits %d relErr=%.2e", window, splits, e));
                assertTrue(e <= TOL, "decode splits=" + splits + " relErr " + e);
            }
        }
    }

    static void attend(float[] q, int qOff, short[] kc, short[] vc, int pos, int window, double scale, double cap,
                       int kvDim, int kvOff, int hd, double[] out, int outOff) {
        int first = Math.max(0, pos - window + 1);
        double[] s = new double[pos + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = first; p <= pos; p++) {
            double d = 0;
            for (int i = 0; i < hd; i++) {
                d += q[qOff + i] * (double) Float.float16ToFloat(kc[p * kvDim + kvOff + i]);
            }
            s[p] = cap > 0 ? cap * Math.tanh(d * scale / cap) : d * scale;
            max = Math.max(max, s[p]);
        }
        double sum = 0;
        for (int p = first; p <= pos; p++) {
            s[p] = Math.exp(s[p] - max);
            sum += s[p];
        }
        for (int i = 0; i < hd; i++) {
            double acc = 0;
            for (int p = first; p <= pos; p++) {
                acc += s[p] * Float.float16ToFloat(vc[p * kvDim + kvOff + i]);
            }
            out[outOff + i] = acc / sum;
        }
    }

    /** qkv_post with a ring stores a position's key and value at row p mod R and p mod R + R, nowhere else. */
    @Test
    void qkvPostWritesBothCopiesOfTheRingRow() {
        gpu.device.makeCurrent();
        int heads = 4;
        int kvHeads = 2;
        int hd = 32;
        int kvDim = kvHeads * hd;
        int ring = 10;
        int pos = 37;
        SplittableRandom rnd = new SplittableRandom(3);
        float[] q = new float[heads * hd];
        float[] k = new float[kvDim];
        float[] v = new float[kvDim];
        for (int i = 0; i < kvDim; i++) {
            k[i] = (float) rnd.nextDouble();
            v[i] = (float) rnd.nextDouble();
        }
        double[] inv = new double[hd / 2]; // no rotation: keys are stored as they are
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr kc = buf.of(new short[2 * ring * kvDim]);
            CUdeviceptr vc = buf.of(new short[2 * ring * kvDim]);
            CUdeviceptr freq = buf.alloc(8L * inv.length);
            jcuda.driver.JCudaDriver.cuMemcpyHtoD(freq, jcuda.Pointer.to(inv), 8L * inv.length);
            gpu.kernels.qkvPost(gpu.stream, buf.of(q), buf.of(k), buf.of(v), null, null, null, null, null, freq, hd, true,
                    1e-6f, buf.of(new int[] {pos, 1}), kc, vc, heads, kvHeads, hd, 1, ring);
            cuStreamSynchronize(gpu.stream);
            short[] keys = GpuTests.Buffers.shorts(kc, 2 * ring * kvDim);
            short[] values = GpuTests.Buffers.shorts(vc, 2 * ring * kvDim);
            for (int row = 0; row < 2 * ring; row++) {
                boolean written = row == pos % ring || row == pos % ring + ring;
                for (int j = 0; j < kvDim; j++) {
                    float wantK = written ? Float.float16ToFloat(Float.floatToFloat16(k[j])) : 0f;
                    float wantV = written ? Float.float16ToFloat(Float.floatToFloat16(v[j])) : 0f;
                    assertEquals(wantK, Float.float16ToFloat(keys[row * kvDim + j]), "key row " + row);
                    assertEquals(wantV, Float.float16ToFloat(values[row * kvDim + j]), "value row " + row);
                }
            }
        }
    }

    /** GeGLU (both paths), x += RMSNorm(t)·w, and cap·tanh(x/cap), against the CPU pass's formulas. */
    @Test
    void elementwiseGemmaKernels() {
        gpu.device.makeCurrent();
        SplittableRandom rnd = new SplittableRandom(11);
        int rows = 3;
        int n = 1000;
        float[] g = new float[rows * n];
        float[] u = new float[rows * n];
        float[] x = new float[rows * n];
        float[] w = new float[n];
        for (int i = 0; i < g.length; i++) {
            g[i] = (float) (rnd.nextDouble() * 8 - 4);
            u[i] = (float) (rnd.nextDouble() * 2 - 1);
            x[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        for (int i = 0; i < n; i++) {
            w[i] = (float) (0.5 + rnd.nextDouble());
        }
        double[] geglu = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            double a = g[i];
            geglu[i] = 0.5 * a * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (a + 0.044715 * a * a * a))) * u[i];
        }
        double[] added = new double[x.length];
        for (int r = 0; r < rows; r++) {
            double ss = 0;
            for (int i = 0; i < n; i++) {
                ss += (double) u[r * n + i] * u[r * n + i];
            }
            double s = 1 / Math.sqrt(ss / n + 1e-6);
            for (int i = 0; i < n; i++) {
                added[r * n + i] = x[r * n + i] + u[r * n + i] * s * w[i];
            }
        }
        double[] capped = new double[g.length];
        for (int i = 0; i < g.length; i++) {
            capped[i] = 3 * Math.tanh(g[i] / 3.0);
        }
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dg = buf.of(g);
            gpu.kernels.geglu(gpu.stream, dg, buf.of(u), g.length);
            CUdeviceptr half = buf.alloc(2L * g.length);
            gpu.kernels.gegluF16(gpu.stream, buf.of(g), buf.of(u), half, g.length);
            CUdeviceptr dx = buf.of(x);
            gpu.kernels.rmsnormAdd(gpu.stream, buf.of(u), buf.of(w), dx, n, 1e-6f, rows);
            CUdeviceptr dc = buf.of(g);
            gpu.kernels.softcap(gpu.stream, dc, g.length, 3f);
            cuStreamSynchronize(gpu.stream);
            assertTrue(GpuTests.relErr(GpuTests.Buffers.floats(dg, g.length), geglu) <= 1e-5, "geglu");
            short[] h = GpuTests.Buffers.shorts(half, g.length);
            float[] hf = new float[h.length];
            for (int i = 0; i < h.length; i++) {
                hf[i] = Float.float16ToFloat(h[i]);
            }
            assertTrue(GpuTests.relErr(hf, geglu) <= 1e-3, "geglu_f16");
            assertTrue(GpuTests.relErr(GpuTests.Buffers.floats(dx, x.length), added) <= 1e-5, "rmsnorm_add");
            assertTrue(GpuTests.relErr(GpuTests.Buffers.floats(dc, g.length), capped) <= 1e-5, "softcap");
        }
    }
}

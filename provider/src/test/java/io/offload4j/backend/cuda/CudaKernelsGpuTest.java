package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuStreamSynchronize;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.offload4j.gguf.GgmlType;
import io.offload4j.gguf.GgufFile;
import io.offload4j.gguf.GgufTensorInfo;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import io.offload4j.testing.QuantFixtures;
import io.offload4j.testing.SharedData;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import jcuda.driver.CUdeviceptr;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every kernel against a reference on random inputs. Tolerance, unless a test says otherwise: the
 * normwise relative error max|gpu − ref| / max|ref| must stay ≤ 1e-3 (fp32 accumulation; what is
 * measured is reported, typically ~1e-6). References: dot products in double over the weights as
 * {@link RefDequant} decodes them (itself checked against ggml's dequantization files), and the CPU
 * kernels ({@link CpuKernels}) wherever they support the format.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class CudaKernelsGpuTest {

    static final double TOL = 1e-3;
    static final GgmlType[] FORMATS = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
        GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K,
        GgmlType.Q3_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS};
    /** The formats whose GPU decoders round exactly as ggml and the CPU kernels (no fused multiply-add). */
    static final GgmlType[] BIT_EXACT_FORMATS = {GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K,
        GgmlType.IQ4_NL, GgmlType.IQ4_XS};

    static GpuTests.KernelSession gpu;

    @BeforeAll
    static void open() {
        gpu = GpuTests.KernelSession.open();
        GpuTests.report("device " + gpu.device.description());
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    static Stream<Arguments> matvecCases() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType t : FORMATS) {
            int[] colsList = switch (t) {
                case F32, F16, BF16 -> new int[] {3072, 256, 172};
                default -> new int[] {3072, 256};
            };
            for (int cols : colsList) {
                for (int nt : new int[] {1, 2, 4, 8}) {
                    for (int mode : new int[] {CudaKernels.STORE, CudaKernels.ADD, CudaKernels.SWIGLU}) {
                        list.add(Arguments.of(t, cols, nt, mode, false));
                        if (mode != CudaKernels.ADD) {
                            list.add(Arguments.of(t, cols, nt, mode, true));
                        }
                    }
                }
            }
        }
        return list.stream();
    }

    static float[] randomFloats(SplittableRandom rnd, int n, double amp) {
        float[] f = new float[n];
        for (int i = 0; i < n; i++) {
            f[i] = (float) ((rnd.nextDouble() * 2 - 1) * amp);
        }
        return f;
    }

    static double dot(float[] w, float[] x, int xOff) {
        double s = 0;
        for (int i = 0; i < w.length; i++) {
            s += (double) w[i] * x[xOff + i];
        }
        return s;
    }

    static double silu(double g) {
        return g / (1 + Math.exp(-g));
    }

    /**
     * One format, row length, token count and mode; with {@code norm}, x is RMS-normalised by the kernel
     * (the reference normalises it first, as the CPU pass does).
     */
    @ParameterizedTest(name = "{0} cols={1} nt={2} mode={3} norm={4}")
    @MethodSource("matvecCases")
    void matvecMatchesReference(GgmlType type, int cols, int nt, int mode, boolean norm) {
        gpu.device.makeCurrent();
        int rows = 67;
        float eps = 1e-5f;
        SplittableRandom rnd = new SplittableRandom(type.ordinal() * 1000L + cols + 10L * nt + mode + (norm ? 7 : 0));
        byte[] w0 = RefDequant.randomRows(type, rows, cols, rnd);
        byte[] w1 = RefDequant.randomRows(type, rows, cols, rnd);
        float[] xRaw = randomFloats(rnd, nt * cols, 2.0);
        float[] g = norm ? randomFloats(rnd, cols, 1.5) : null;
        float[] x = xRaw.clone();
        if (norm) {
            for (int t = 0; t < nt; t++) {
                float ss = 0;
                for (int i = 0; i < cols; i++) {
                    ss += xRaw[t * cols + i] * xRaw[t * cols + i];
                }
                float scale = (float) (1.0 / Math.sqrt(ss / cols + eps));
                for (int i = 0; i < cols; i++) {
                    x[t * cols + i] = xRaw[t * cols + i] * scale * g[i];
                }
            }
        }
        float[] yInit = randomFloats(rnd, nt * rows, 1.0);
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        double[] ref = new double[nt * rows];
        double[] cpu = CpuKernels.isSupported(type) ? new double[nt * rows] : null;
        RowKernel ck = cpu != null ? CpuKernels.of(type) : null;
        MemorySegment s0 = MemorySegment.ofArray(w0);
        MemorySegment s1 = MemorySegment.ofArray(w1);
        for (int r = 0; r < rows; r++) {
            float[] a = RefDequant.row(type, w0, r * rowBytes, cols);
            float[] b = RefDequant.row(type, w1, r * rowBytes, cols);
            for (int t = 0; t < nt; t++) {
                double d = dot(a, x, t * cols);
                int i = t * rows + r;
                ref[i] = switch (mode) {
                    case CudaKernels.STORE -> d;
                    case CudaKernels.ADD -> yInit[i] + d;
                    default -> silu(d) * dot(b, x, t * cols);
                };
                if (ck != null) {
                    double cg = ck.dot(s0, (long) r * rowBytes, x, t * cols, cols);
                    cpu[i] = switch (mode) {
                        case CudaKernels.STORE -> cg;
                        case CudaKernels.ADD -> yInit[i] + cg;
                        default -> silu(cg) * ck.dot(s1, (long) r * rowBytes, x, t * cols, cols);
                    };
                }
            }
        }
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dw0 = buf.of(w0);
            CUdeviceptr dw1 = buf.of(w1);
            CUdeviceptr dx = buf.of(norm ? xRaw : x);
            CUdeviceptr dy = buf.of(yInit);
            gpu.kernels.matvec(gpu.stream, type, nt, mode, dw0, mode == CudaKernels.SWIGLU ? dw1 : null, null, rows, 0, 0,
                    rowBytes, cols, dx, dy, null, null, norm ? buf.of(g) : null, eps);
            cuStreamSynchronize(gpu.stream);
            float[] got = GpuTests.Buffers.floats(dy, nt * rows);
            double err = GpuTests.relErr(got, ref);
            String line = String.format("matvec %-5s cols=%4d nt=%d mode=%d norm=%-5b relErr=%.2e", type, cols, nt, mode,
                    norm, err);
            if (cpu != null) {
                double errCpu = GpuTests.relErr(got, cpu);
                line += String.format(" vsCpu=%.2e", errCpu);
                assertTrue(errCpu <= TOL, line);
            } else {
                line += " vsCpu=n/a(no CPU kernel)";
            }
            GpuTests.report(line);
            assertTrue(err <= TOL, line);
        }
    }

    /**
     * Three matrices of one format in one launch (the fused Q/K/V projection), for one token (two rows per warp: odd
     * segments end in a warp with one row, and no pair may straddle two matrices) and for two.
     */
    @ParameterizedTest(name = "nt={0} rows={1}")
    @CsvSource({"1, 96 32 40", "1, 97 31 41", "2, 96 32 40", "2, 97 31 41"})
    void matvecSegments(int nt, String rowList) {
        gpu.device.makeCurrent();
        GgmlType type = GgmlType.Q4_K;
        int cols = 512;
        int[] rows = Arrays.stream(rowList.split(" ")).mapToInt(Integer::parseInt).toArray();
        SplittableRandom rnd = new SplittableRandom(7);
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        float[] x = randomFloats(rnd, nt * cols, 1);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            byte[][] w = new byte[3][];
            CUdeviceptr[] dw = new CUdeviceptr[3];
            CUdeviceptr[] dy = new CUdeviceptr[3];
            for (int s = 0; s < 3; s++) {
                w[s] = RefDequant.randomRows(type, rows[s], cols, rnd);
                dw[s] = buf.of(w[s]);
                dy[s] = buf.alloc(4L * nt * rows[s]);
            }
            gpu.kernels.matvec(gpu.stream, type, nt, CudaKernels.STORE, dw[0], dw[1], dw[2], rows[0], rows[1], rows[2], rowBytes,
                    cols, buf.of(x), dy[0], dy[1], dy[2], null, 0f);
            cuStreamSynchronize(gpu.stream);
            for (int s = 0; s < 3; s++) {
                double[] ref = new double[nt * rows[s]];
                for (int r = 0; r < rows[s]; r++) {
                    float[] a = RefDequant.row(type, w[s], r * rowBytes, cols);
                    for (int t = 0; t < nt; t++) {
                        ref[t * rows[s] + r] = dot(a, x, t * cols);
                    }
                }
                double err = GpuTests.relErr(GpuTests.Buffers.floats(dy[s], nt * rows[s]), ref);
                GpuTests.report(String.format("matvec segments nt=%d rows=%s seg=%d relErr=%.2e", nt, rowList, s, err));
                assertTrue(err <= TOL);
            }
        }
    }

    /** Embedding gather and fp16 dequantization on random rows of every format. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("formats")
    void embedAndDequantMatchReference(GgmlType type) {
        gpu.device.makeCurrent();
        int rows = 40;
        int cols = 512;
        SplittableRandom rnd = new SplittableRandom(type.ordinal());
        byte[] w = RefDequant.randomRows(type, rows, cols, rnd);
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        int[] tokens = {5, 0, 39, 17, 17, 2};
        int[] params = new int[2 + tokens.length];
        params[1] = tokens.length;
        System.arraycopy(tokens, 0, params, 2, tokens.length);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dw = buf.of(w);
            CUdeviceptr dx = buf.alloc(4L * tokens.length * cols);
            CUdeviceptr d16 = buf.alloc(2L * rows * cols);
            gpu.kernels.embed(gpu.stream, type, dw, rowBytes, cols, buf.of(params), dx, tokens.length);
            gpu.kernels.dequantF16(gpu.stream, type, dw, rowBytes, rows, cols, d16);
            cuStreamSynchronize(gpu.stream);
            float[] got = GpuTests.Buffers.floats(dx, tokens.length * cols);
            float[] ref = new float[tokens.length * cols];
            for (int t = 0; t < tokens.length; t++) {
                System.arraycopy(RefDequant.row(type, w, tokens[t] * rowBytes, cols), 0, ref, t * cols, cols);
            }
            double err = GpuTests.relErr(got, ref);
            short[] h = GpuTests.Buffers.shorts(d16, rows * cols);
            float[] hf = new float[h.length];
            float[] all = new float[rows * cols];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(RefDequant.row(type, w, r * rowBytes, cols), 0, all, r * cols, cols);
            }
            for (int i = 0; i < h.length; i++) {
                hf[i] = Float.float16ToFloat(h[i]);
            }
            double err16 = GpuTests.relErr(hf, all);
            GpuTests.report(String.format("embed %-5s relErr=%.2e; dequant->fp16 relErr=%.2e", type, err, err16));
            assertTrue(err <= 1e-6, "embedding rows must decode exactly (up to fused multiply-add rounding)");
            assertTrue(err16 <= 1e-3, "fp16 copy within fp16 rounding");
        }
    }

    static Stream<GgmlType> formats() {
        return Stream.of(FORMATS);
    }

    /** The GPU decoders against ggml's own dequantization of the K-quant reference files. */
    @Test
    void dequantizationMatchesGgml() throws IOException {
        gpu.device.makeCurrent();
        Path dir = SharedData.require("models/kquant/dequantized");
        List<Path> refs;
        try (Stream<Path> s = Files.list(dir)) {
            refs = s.filter(p -> p.toString().endsWith(".f32")).sorted().toList();
        }
        assumeTrue(!refs.isEmpty(), "no .f32 references in " + dir);
        for (Path ref : refs) {
            String name = ref.getFileName().toString();
            String preset = name.substring(0, name.indexOf('.'));          // kquant-Q4_K_M
            String tensor = name.substring(name.indexOf('.') + 1, name.length() - 4);
            Path gguf = dir.getParent().resolve(preset + ".gguf");
            try (GgufFile f = GgufFile.open(gguf); GpuTests.Buffers buf = new GpuTests.Buffers()) {
                GgufTensorInfo info = f.tensors().get(tensor);
                int cols = (int) info.dim(0);
                int rows = (int) info.dim(1);
                long rowBytes = info.type().bytesFor(cols);
                byte[] bytes = f.tensorData(info).toArray(ValueLayout.JAVA_BYTE);
                int[] params = new int[2 + rows];
                params[1] = rows;
                for (int r = 0; r < rows; r++) {
                    params[2 + r] = r;
                }
                CUdeviceptr dx = buf.alloc(4L * rows * cols);
                gpu.kernels.embed(gpu.stream, info.type(), buf.of(bytes), rowBytes, cols, buf.of(params), dx, rows);
                cuStreamSynchronize(gpu.stream);
                float[] got = GpuTests.Buffers.floats(dx, rows * cols);
                float[] want = new float[rows * cols];
                ByteBuffer.wrap(Files.readAllBytes(ref)).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(want);
                double err = GpuTests.relErr(got, want);
                GpuTests.report(String.format("ggml-dequant %s %s (%s) relErr=%.2e", preset, tensor, info.type(), err));
                assertTrue(err <= 1e-6, name);
            }
        }
    }

    @Test
    void gemmMatchesReference() {
        gpu.device.makeCurrent();
        // both instances: 64-row blocks where the 128-row tiles would leave most SMs idle, 128 where they fill half
        // the GPU or more (3 row tiles, the last one partial, x 48 feature tiles); K from one tile of 32 (fewer tiles
        // than pipeline stages) to 16
        int sms = gpu.device.multiprocessors();
        int[][] shapes = {{37, 256, 512}, {5, 128, 32}, {300, 128 * Math.max(48, (sms + 2) / 3), 96}};
        for (int[] shape : shapes) {
            int m = shape[0];
            int n = shape[1];
            int k = shape[2];
            int rows = CudaKernels.gemmBlockRows(m, n, sms);
            assertEquals(shape == shapes[2] ? 128 : 64, rows, "block rows for " + m + "x" + n);
            gemmMatchesReference(m, n, k, rows);
        }
    }

    private void gemmMatchesReference(int m, int n, int k, int blockRows) {
        SplittableRandom rnd = new SplittableRandom(3 + m);
        short[] a = new short[m * k];
        short[] b = new short[n * k];
        float[] af = new float[m * k];
        float[] bf = new float[n * k];
        for (int i = 0; i < a.length; i++) {
            a[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
            af[i] = Float.float16ToFloat(a[i]);
        }
        for (int i = 0; i < b.length; i++) {
            b[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 0.2 - 0.1));
            bf[i] = Float.float16ToFloat(b[i]);
        }
        float[] c0 = randomFloats(rnd, m * n, 1);
        double[] ref = new double[m * n];
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) af[i * k + p] * bf[j * k + p];
                }
                ref[i * n + j] = s;
            }
        }
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr da = buf.of(a);
            CUdeviceptr db = buf.of(b);
            CUdeviceptr dc = buf.of(c0);
            gpu.kernels.gemm(gpu.stream, da, db, dc, m, n, k, false);
            cuStreamSynchronize(gpu.stream);
            double err = GpuTests.relErr(GpuTests.Buffers.floats(dc, m * n), ref);
            gpu.kernels.gemm(gpu.stream, da, db, dc, m, n, k, true);
            cuStreamSynchronize(gpu.stream);
            double[] twice = ref.clone();
            for (int i = 0; i < twice.length; i++) {
                twice[i] *= 2;
            }
            double errAcc = GpuTests.relErr(GpuTests.Buffers.floats(dc, m * n), twice);
            GpuTests.report(String.format("gemm_f16_m%d %dx%dx%d relErr=%.2e accumulate relErr=%.2e", blockRows, m, n, k,
                    err, errAcc));
            assertTrue(err <= TOL && errAcc <= TOL);
        }
    }

    @Test
    void rmsnormMatchesCpuFormula() {
        gpu.device.makeCurrent();
        for (int n : new int[] {3072, 64}) {
            int count = 3;
            float eps = 1e-5f;
            SplittableRandom rnd = new SplittableRandom(n);
            float[] x = randomFloats(rnd, count * n, 2);
            float[] w = randomFloats(rnd, n, 1);
            float[] ref = new float[count * n];
            for (int t = 0; t < count; t++) {
                float ss = 0;
                for (int i = 0; i < n; i++) {
                    ss += x[t * n + i] * x[t * n + i];
                }
                float scale = (float) (1.0 / Math.sqrt(ss / n + eps));
                for (int i = 0; i < n; i++) {
                    ref[t * n + i] = x[t * n + i] * scale * w[i];
                }
            }
            try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
                CUdeviceptr out = buf.alloc(4L * count * n);
                CUdeviceptr out16 = buf.alloc(2L * count * n);
                gpu.kernels.rmsnorm(gpu.stream, buf.of(x), buf.of(w), out, out16, n, eps, count);
                cuStreamSynchronize(gpu.stream);
                double err = GpuTests.relErr(GpuTests.Buffers.floats(out, count * n), ref);
                short[] h = GpuTests.Buffers.shorts(out16, count * n);
                float[] hf = new float[h.length];
                for (int i = 0; i < h.length; i++) {
                    hf[i] = Float.float16ToFloat(h[i]);
                }
                double err16 = GpuTests.relErr(hf, ref);
                GpuTests.report(String.format("rmsnorm n=%d relErr=%.2e fp16 relErr=%.2e", n, err, err16));
                assertTrue(err <= 1e-5 && err16 <= 1e-3);
            }
        }
    }

    /** Bias, per-head norm, RoPE in both layouts (with partial rotation and frequency factors), cache store. */
    @ParameterizedTest(name = "hd={0} halves={1} extras={2}")
    @MethodSource("qkvCases")
    void qkvPostMatchesReference(int hd, boolean halves, boolean extras) {
        gpu.device.makeCurrent();
        int heads = 4;
        int kvHeads = 2;
        int count = 3;
        int startPos = 5;
        int capacity = 16;
        int ropeDims = extras ? hd / 2 : hd;
        float eps = 1e-6f;
        int qDim = heads * hd;
        int kvDim = kvHeads * hd;
        SplittableRandom rnd = new SplittableRandom(hd * 31L + (halves ? 1 : 0) + (extras ? 2 : 0));
        float[] q = randomFloats(rnd, count * qDim, 1);
        float[] k = randomFloats(rnd, count * kvDim, 1);
        float[] v = randomFloats(rnd, count * kvDim, 1);
        float[] qb = extras ? randomFloats(rnd, qDim, 0.5) : null;
        float[] kb = extras ? randomFloats(rnd, kvDim, 0.5) : null;
        float[] vb = extras ? randomFloats(rnd, kvDim, 0.5) : null;
        float[] qn = extras ? randomFloats(rnd, hd, 1) : null;
        float[] kn = extras ? randomFloats(rnd, hd, 1) : null;
        double[] inv = new double[ropeDims / 2];
        for (int i = 0; i < inv.length; i++) {
            inv[i] = Math.pow(10000, -2.0 * i / ropeDims) / (extras ? 1 + i % 3 : 1);
        }
        float[] qRef = q.clone();
        float[] kRef = k.clone();
        float[] vRef = v.clone();
        for (int t = 0; t < count; t++) {
            int pos = startPos + t;
            for (int h = 0; h < heads; h++) {
                post(qRef, (t * heads + h) * hd, qb, h * hd, qn, hd, ropeDims, halves, inv, pos, eps);
            }
            for (int h = 0; h < kvHeads; h++) {
                post(kRef, t * kvDim + h * hd, kb, h * hd, kn, hd, ropeDims, halves, inv, pos, eps);
                if (vb != null) {
                    for (int d = 0; d < hd; d++) {
                        vRef[t * kvDim + h * hd + d] += vb[h * hd + d];
                    }
                }
            }
        }
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dq = buf.of(q);
            CUdeviceptr kc = buf.alloc(2L * capacity * kvDim);
            CUdeviceptr vc = buf.alloc(2L * capacity * kvDim);
            gpu.kernels.qkvPost(gpu.stream, dq, buf.of(k), buf.of(v), qb == null ? null : buf.of(qb),
                    kb == null ? null : buf.of(kb), vb == null ? null : buf.of(vb), qn == null ? null : buf.of(qn),
                    kn == null ? null : buf.of(kn), buf.of(inv), ropeDims, halves, eps,
                    buf.of(new int[] {startPos, count}), kc, vc, heads, kvHeads, hd, count);
            cuStreamSynchronize(gpu.stream);
            double errQ = GpuTests.relErr(GpuTests.Buffers.floats(dq, count * qDim), qRef);
            short[] kh = GpuTests.Buffers.shorts(kc.withByteOffset(2L * startPos * kvDim), count * kvDim);
            short[] vh = GpuTests.Buffers.shorts(vc.withByteOffset(2L * startPos * kvDim), count * kvDim);
            float[] kf = new float[kh.length];
            float[] vf = new float[vh.length];
            for (int i = 0; i < kh.length; i++) {
                kf[i] = Float.float16ToFloat(kh[i]);
                vf[i] = Float.float16ToFloat(vh[i]);
            }
            double errK = GpuTests.relErr(kf, kRef);
            double errV = GpuTests.relErr(vf, vRef);
            GpuTests.report(String.format("qkv_post hd=%d halves=%b extras=%b q relErr=%.2e k(fp16)=%.2e v(fp16)=%.2e",
                    hd, halves, extras, errQ, errK, errV));
            assertTrue(errQ <= 1e-5, "q");
            assertTrue(errK <= 1e-3 && errV <= 1e-3, "k/v in fp16");
        }
    }

    static Stream<Arguments> qkvCases() {
        List<Arguments> l = new ArrayList<>();
        for (int hd : new int[] {128, 8}) {
            for (boolean halves : new boolean[] {false, true}) {
                for (boolean extras : new boolean[] {false, true}) {
                    l.add(Arguments.of(hd, halves, extras));
                }
            }
        }
        return l.stream();
    }

    /** The CPU pass's order: bias, per-head RMSNorm, RoPE (as CpuForwardPass does it). */
    static void post(float[] a, int base, float[] bias, int bOff, float[] norm, int hd, int ropeDims, boolean halves,
                     double[] inv, int pos, float eps) {
        if (bias != null) {
            for (int d = 0; d < hd; d++) {
                a[base + d] += bias[bOff + d];
            }
        }
        if (norm != null) {
            float ss = 0;
            for (int d = 0; d < hd; d++) {
                ss += a[base + d] * a[base + d];
            }
            float scale = (float) (1.0 / Math.sqrt(ss / hd + eps));
            for (int d = 0; d < hd; d++) {
                a[base + d] = a[base + d] * scale * norm[d];
            }
        }
        int half = ropeDims / 2;
        for (int i = 0; i < half; i++) {
            int x0 = halves ? base + i : base + 2 * i;
            int x1 = halves ? x0 + half : x0 + 1;
            float cos = (float) Math.cos(pos * inv[i]);
            float sin = (float) Math.sin(pos * inv[i]);
            float p = a[x0];
            float r = a[x1];
            a[x0] = p * cos - r * sin;
            a[x1] = p * sin + r * cos;
        }
    }

    /** Decode attention (several split counts) and causal prefill attention against a double reference. */
    @ParameterizedTest(name = "hd={0}")
    @MethodSource("headDims")
    void attentionMatchesReference(int hd) {
        gpu.device.makeCurrent();
        int heads = 8;
        int kvHeads = 2;
        int kvDim = kvHeads * hd;
        int n = 300;  // positions in the cache
        SplittableRandom rnd = new SplittableRandom(hd);
        short[] kc = new short[n * kvDim];
        short[] vc = new short[n * kvDim];
        for (int i = 0; i < kc.length; i++) {
            kc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
            vc[i] = Float.floatToFloat16((float) (rnd.nextDouble() * 2 - 1));
        }
        int count = 19;
        float[] q = randomFloats(rnd, count * heads * hd, 2);
        int pos0 = n - count;
        double[] ref = new double[count * heads * hd];
        for (int t = 0; t < count; t++) {
            for (int h = 0; h < heads; h++) {
                attend(q, (t * heads + h) * hd, kc, vc, pos0 + t, kvDim, (h / (heads / kvHeads)) * hd, hd, ref,
                        (t * heads + h) * hd);
            }
        }
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dk = buf.of(kc);
            CUdeviceptr dv = buf.of(vc);
            CUdeviceptr out = buf.alloc(4L * count * heads * hd);
            // prefill: all 19 queries
            gpu.kernels.attnPrefill(gpu.stream, buf.of(q), dk, dv, buf.of(new int[] {pos0, count}), out, count, heads, kvHeads, hd);
            cuStreamSynchronize(gpu.stream);
            double err = GpuTests.relErr(GpuTests.Buffers.floats(out, count * heads * hd), ref);
            GpuTests.report(String.format("attn_prefill hd=%d T=%d relErr=%.2e", hd, count, err));
            assertTrue(err <= TOL, "prefill");
            // decode: the last query alone, at position n - 1
            float[] lastQ = new float[heads * hd];
            System.arraycopy(q, (count - 1) * heads * hd, lastQ, 0, heads * hd);
            double[] lastRef = new double[heads * hd];
            System.arraycopy(ref, (count - 1) * heads * hd, lastRef, 0, heads * hd);
            for (int splits : new int[] {1, 3, 11, 32}) {
                CUdeviceptr part = buf.alloc(4L * CudaKernels.attnPartialFloats(heads, hd, splits));
                CUdeviceptr o = buf.alloc(4L * heads * hd);
                CUdeviceptr counters = buf.of(new int[heads]);
                // twice: the second call checks that the kernel left its counters at zero
                for (int rep = 0; rep < 2; rep++) {
                    gpu.kernels.attnDecode(gpu.stream, buf.of(lastQ), dk, dv, buf.of(new int[] {n - 1, 1}), part, counters, o,
                            heads, kvHeads, hd, splits);
                }
                cuStreamSynchronize(gpu.stream);
                double e = GpuTests.relErr(GpuTests.Buffers.floats(o, heads * hd), lastRef);
                GpuTests.report(String.format("attn_decode hd=%d n=%d splits=%d relErr=%.2e", hd, n, splits, e));
                assertTrue(e <= TOL, "decode splits=" + splits);
            }
        }
    }

    static Stream<Integer> headDims() {
        return Stream.of(128, 64, 8, 256);
    }

    static void attend(float[] q, int qOff, short[] kc, short[] vc, int pos, int kvDim, int kvOff, int hd, double[] out,
                       int outOff) {
        double scale = 1.0 / Math.sqrt(hd);
        double[] s = new double[pos + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = 0; p <= pos; p++) {
            double d = 0;
            for (int i = 0; i < hd; i++) {
                d += q[qOff + i] * (double) Float.float16ToFloat(kc[p * kvDim + kvOff + i]);
            }
            s[p] = d * scale;
            max = Math.max(max, s[p]);
        }
        double sum = 0;
        for (int p = 0; p <= pos; p++) {
            s[p] = Math.exp(s[p] - max);
            sum += s[p];
        }
        for (int i = 0; i < hd; i++) {
            double acc = 0;
            for (int p = 0; p <= pos; p++) {
                acc += s[p] * Float.float16ToFloat(vc[p * kvDim + kvOff + i]);
            }
            out[outOff + i] = acc / sum;
        }
    }

    @Test
    void unitSizesMatchTheKernels() {
        assertEquals(16, CudaKernels.unit(GgmlType.Q4_K));
        assertEquals(32, CudaKernels.unit(GgmlType.Q6_K));
        assertEquals(32, CudaKernels.unit(GgmlType.Q5_0));
        assertEquals(32, CudaKernels.unit(GgmlType.Q5_1));
        assertEquals(32, CudaKernels.unit(GgmlType.Q2_K));
        assertEquals(32, CudaKernels.unit(GgmlType.Q3_K));
        assertEquals(32, CudaKernels.unit(GgmlType.IQ4_NL));
        assertEquals(16, CudaKernels.unit(GgmlType.IQ4_XS));
    }

    /**
     * The GPU decoders of Q5_0, Q5_1, Q2_K, Q3_K, IQ4_NL and IQ4_XS against ggml's own dequantization (the
     * committed fixtures: rows quantized by llama-quantize and random blocks, with gguf-py's values) and the
     * CPU kernels on the same bytes: the embedding gather must give every float bit for bit, the fp16 copy
     * every value rounded to nearest half (as {@link Float#floatToFloat16}), and the matrix-vector product the
     * CPU kernel's dot within float summation order (1e-5 of Σ|w·x|).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("ggmlFixtures")
    void decodersMatchGgmlFixtures(QuantFixtures.Tensor t) {
        gpu.device.makeCurrent();
        int rows = t.rows();
        int cols = t.cols();
        int[] params = new int[2 + rows];
        params[1] = rows;
        for (int r = 0; r < rows; r++) {
            params[2 + r] = r;
        }
        RowKernel cpu = CpuKernels.scalar(t.format());
        MemorySegment seg = MemorySegment.ofArray(t.quantized());
        float[] x = randomFloats(new SplittableRandom(t.id().hashCode()), cols, 1.0);
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dw = buf.of(t.quantized());
            CUdeviceptr dx = buf.alloc(4L * rows * cols);
            CUdeviceptr d16 = buf.alloc(2L * rows * cols);
            CUdeviceptr dy = buf.alloc(4L * rows);
            gpu.kernels.embed(gpu.stream, t.format(), dw, t.rowBytes(), cols, buf.of(params), dx, rows);
            gpu.kernels.dequantF16(gpu.stream, t.format(), dw, t.rowBytes(), rows, cols, d16);
            gpu.kernels.matvec(gpu.stream, t.format(), 1, CudaKernels.STORE, dw, null, null, rows, 0, 0, t.rowBytes(), cols,
                    buf.of(x), dy, null, null, null, 0f);
            cuStreamSynchronize(gpu.stream);
            float[] got = GpuTests.Buffers.floats(dx, rows * cols);
            short[] got16 = GpuTests.Buffers.shorts(d16, rows * cols);
            float[] y = GpuTests.Buffers.floats(dy, rows);
            float[] cpuRow = new float[cols];
            int differ = 0;
            for (int r = 0; r < rows; r++) {
                cpu.dequantize(seg, (long) r * t.rowBytes(), cpuRow, 0, cols);
                for (int i = 0; i < cols; i++) {
                    int k = r * cols + i;
                    float want = t.reference()[k];
                    assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(cpuRow[i]), t + ": CPU vs ggml");
                    if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(got[k])
                            || got16[k] != Float.floatToFloat16(want)) {
                        if (differ++ == 0) {
                            GpuTests.report(String.format("ggml-fixture %s first difference at row %d col %d: ggml %s,"
                                    + " gpu %s, gpu fp16 %s", t, r, i, want, got[k], Float.float16ToFloat(got16[k])));
                        }
                    }
                }
                double want = dot(java.util.Arrays.copyOfRange(t.reference(), r * cols, r * cols + cols), x, 0);
                double scale = 0;
                for (int i = 0; i < cols; i++) {
                    scale += Math.abs((double) t.reference()[r * cols + i] * x[i]);
                }
                float cpuDot = cpu.dot(seg, (long) r * t.rowBytes(), x, 0, cols);
                assertTrue(Math.abs(y[r] - want) <= 1e-5 * scale && Math.abs(y[r] - cpuDot) <= 1e-5 * scale,
                        t + " matvec row " + r + ": gpu " + y[r] + ", cpu " + cpuDot + ", double " + want);
            }
            GpuTests.report(String.format("ggml-fixture %-28s %d of %d values differ from ggml (embed or fp16)", t,
                    differ, rows * cols));
            assertEquals(0, differ, t + ": GPU decode differs from ggml's dequantization");
        }
    }

    static List<QuantFixtures.Tensor> ggmlFixtures() {
        return QuantFixtures.tensors();
    }

    /** On random rows of every bit pattern, the GPU decoders of the newer formats equal the CPU kernels bit for bit. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("bitExactFormats")
    void decodersEqualTheCpuKernelsBitForBit(GgmlType type) {
        gpu.device.makeCurrent();
        int rows = 24;
        int cols = 1024;
        SplittableRandom rnd = new SplittableRandom(31L * type.ordinal());
        byte[] w = RefDequant.randomRows(type, rows, cols, rnd);
        int rowBytes = Math.toIntExact(type.bytesFor(cols));
        int[] params = new int[2 + rows];
        params[1] = rows;
        for (int r = 0; r < rows; r++) {
            params[2 + r] = rows - 1 - r;
        }
        try (GpuTests.Buffers buf = new GpuTests.Buffers()) {
            CUdeviceptr dx = buf.alloc(4L * rows * cols);
            gpu.kernels.embed(gpu.stream, type, buf.of(w), rowBytes, cols, buf.of(params), dx, rows);
            cuStreamSynchronize(gpu.stream);
            float[] got = GpuTests.Buffers.floats(dx, rows * cols);
            float[] cpu = new float[cols];
            for (int t = 0; t < rows; t++) {
                int r = rows - 1 - t;
                CpuKernels.of(type).dequantize(MemorySegment.ofArray(w), (long) r * rowBytes, cpu, 0, cols);
                float[] ref = RefDequant.row(type, w, r * rowBytes, cols);
                for (int i = 0; i < cols; i++) {
                    assertEquals(Float.floatToRawIntBits(ref[i]), Float.floatToRawIntBits(cpu[i]),
                            type + " CPU kernel vs RefDequant, row " + r + " col " + i);
                    assertEquals(Float.floatToRawIntBits(cpu[i]), Float.floatToRawIntBits(got[t * cols + i]),
                            type + " GPU vs CPU, row " + r + " col " + i + ": " + got[t * cols + i] + " vs " + cpu[i]);
                }
            }
            GpuTests.report(String.format("bit-exact %-6s %d x %d: GPU embed == CPU kernel", type, rows, cols));
        }
    }

    static Stream<GgmlType> bitExactFormats() {
        return Stream.of(BIT_EXACT_FORMATS);
    }
}

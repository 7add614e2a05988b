package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuEventCreate;
import static jcuda.driver.JCudaDriver.cuEventDestroy;
import static jcuda.driver.JCudaDriver.cuEventElapsedTime;
import static jcuda.driver.JCudaDriver.cuEventRecord;
import static jcuda.driver.JCudaDriver.cuEventSynchronize;
import static jcuda.driver.JCudaDriver.cuMemsetD8;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;

import io.offload4j.gguf.GgmlType;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUevent;
import jcuda.driver.CUstream;

/**
 * The projections of one 3B-shaped llama block and its output head, timed kernel by kernel on the GPU for 1..16 rows
 * (issue 16): the batched matrix-vector kernel ({@code mvb_*}, what a step of 2..16 rows runs now), the earlier
 * path (the one-row kernel family in tiles of 8, 4, 2 and 1 rows, each tile re-reading the weights) and the
 * tensor-core path (each weight dequantized to fp16, then the GEMM). Weights are a byte pattern (values do not change
 * the timing). Median of 20 timed runs after 3, CUDA events; effective GB/s = weight bytes ÷ time.
 *
 * <pre>
 * BatchedMatvecBenchmark [--formats F16,Q8_0,Q4_K,Q6_K] [--rows 1,2,4,8,12,16] [--dim 3072] [--ffn 8192]
 *                        [--kv 1024] [--vocab 128256]
 * </pre>
 */
public final class BatchedMatvecBenchmark {

    private static final int WARM = 3;
    private static final int RUNS = 20;

    private BatchedMatvecBenchmark() {}

    /** One projection: its matrices (rows each, same cols), mode and whether the norm is fused. */
    record Projection(String name, int[] rows, int cols, int mode, boolean norm) {
        long elements() {
            long n = 0;
            for (int r : rows) {
                n += (long) r * cols;
            }
            return n;
        }
    }

    public static void main(String[] args) {
        List<GgmlType> formats = Arrays.stream(arg(args, "--formats", "F16,Q8_0,Q4_K,Q6_K").split(","))
                .map(GgmlType::valueOf).toList();
        int[] rowCounts = Arrays.stream(arg(args, "--rows", "1,2,4,8,12,16").split(",")).mapToInt(Integer::parseInt)
                .toArray();
        int dim = Integer.parseInt(arg(args, "--dim", "3072"));
        int ffn = Integer.parseInt(arg(args, "--ffn", "8192"));
        int kv = Integer.parseInt(arg(args, "--kv", "1024"));
        int vocab = Integer.parseInt(arg(args, "--vocab", "128256"));
        List<Projection> projections = List.of(
                new Projection("attn_qkv", new int[] {dim, kv, kv}, dim, CudaKernels.STORE, true),
                new Projection("ffn_gate_up", new int[] {ffn, ffn}, dim, CudaKernels.SWIGLU, true),
                new Projection("ffn_down", new int[] {dim}, ffn, CudaKernels.ADD, false),
                new Projection("output", new int[] {vocab}, dim, CudaKernels.STORE, true));
        int maxRows = Arrays.stream(rowCounts).max().orElse(16);
        try (CudaDevice device = CudaDevice.open(0); CudaKernels kernels = new CudaKernels();
             GpuTests.Buffers buf = new GpuTests.Buffers()) {
            device.makeCurrent();
            CUstream stream = new CUstream();
            cuStreamCreate(stream, 0);
            CUevent start = new CUevent();
            CUevent stop = new CUevent();
            cuEventCreate(start, 0);
            cuEventCreate(stop, 0);
            System.out.println("# Batched matrix-vector kernels\n\n" + device.description() + "\n");
            System.out.println("| format | projection | rows | batched µs (GB/s) | tiles of 8/4/2/1 µs (GB/s) |"
                    + " dequant + GEMM µs (GB/s) |");
            System.out.println("|---|---|---|---|---|---|");
            int widest = Math.max(dim, ffn);
            CUdeviceptr x = buf.alloc(4L * maxRows * widest);
            cuMemsetD8(x, (byte) 0x3c, 4L * maxRows * widest);
            CUdeviceptr norm = buf.alloc(4L * widest);
            cuMemsetD8(norm, (byte) 0x3c, 4L * widest);
            CUdeviceptr y = buf.alloc(4L * maxRows * Math.max(vocab, 2L * ffn + dim));
            CUdeviceptr a16 = buf.alloc(2L * Math.max(maxRows, 64) * widest);
            CUdeviceptr w16 = buf.alloc(2L * vocab * dim);
            for (GgmlType type : formats) {
                for (Projection p : projections) {
                    long rowBytes = type.bytesFor(p.cols());
                    CUdeviceptr[] w = new CUdeviceptr[3];
                    long bytes = 0;
                    try (GpuTests.Buffers wb = new GpuTests.Buffers()) {
                        for (int i = 0; i < p.rows().length; i++) {
                            w[i] = wb.alloc(rowBytes * p.rows()[i]);
                            cuMemsetD8(w[i], (byte) 0x11, rowBytes * p.rows()[i]);
                            bytes += rowBytes * p.rows()[i];
                        }
                        int[] r = p.rows();
                        boolean sw = p.mode() == CudaKernels.SWIGLU;
                        int rows1 = sw ? 0 : r.length > 1 ? r[1] : 0;
                        int rows2 = r.length > 2 ? r[2] : 0;
                        CUdeviceptr y1 = sw || r.length < 2 ? null : y.withByteOffset(4L * maxRows * r[0]);
                        CUdeviceptr y2 = r.length < 3 ? null : y.withByteOffset(4L * maxRows * (r[0] + r[1]));
                        CUdeviceptr nw = p.norm() ? norm : null;
                        for (int nt : rowCounts) {
                            Runnable batched = () -> {
                                if (nt == 1) {
                                    kernels.matvec(stream, type, 1, p.mode(), w[0], w[1], w[2], r[0], rows1, rows2,
                                            rowBytes, p.cols(), x, y, y1, y2, nw, 1e-5f);
                                } else {
                                    kernels.matvecBatched(stream, type, nt, p.mode(), w[0], w[1], w[2], r[0], rows1,
                                            rows2, rowBytes, p.cols(), x, y, y1, y2, nw, 1e-5f);
                                }
                            };
                            Runnable tiles = () -> {
                                for (int t0 = 0; t0 < nt; ) {
                                    int left = nt - t0;
                                    int tile = left >= 8 ? 8 : left >= 4 ? 4 : left >= 2 ? 2 : 1;
                                    kernels.matvec(stream, type, tile, p.mode(), w[0], w[1], w[2], r[0], rows1, rows2,
                                            rowBytes, p.cols(), x.withByteOffset(4L * t0 * p.cols()),
                                            y.withByteOffset(4L * t0 * r[0]), y1, y2, nw, 1e-5f);
                                    t0 += tile;
                                }
                            };
                            boolean gemmOk = Arrays.stream(r).allMatch(n -> CudaKernels.gemmShapeOk(n, p.cols()));
                            Runnable gemm = () -> {
                                for (int i = 0; i < r.length; i++) {
                                    CUdeviceptr b = w[i];
                                    if (type != GgmlType.F16) {
                                        kernels.dequantF16(stream, type, w[i], rowBytes, r[i], p.cols(), w16);
                                        b = w16;
                                    }
                                    kernels.gemm(stream, a16, b, y, nt, r[i], p.cols(), false);
                                }
                            };
                            double tb = time(batched, stream, start, stop);
                            double tt = time(tiles, stream, start, stop);
                            double tg = gemmOk ? time(gemm, stream, start, stop) : Double.NaN;
                            System.out.println(String.format(Locale.ROOT, "| %s | %s | %d | %s | %s | %s |", type,
                                    p.name(), nt, cell(tb, bytes), cell(tt, bytes), cell(tg, bytes)));
                        }
                    }
                }
            }
            cuEventDestroy(start);
            cuEventDestroy(stop);
            cuStreamDestroy(stream);
        }
    }

    private static String cell(double micros, long bytes) {
        if (Double.isNaN(micros)) {
            return "n/a";
        }
        return String.format(Locale.ROOT, "%.1f (%.0f)", micros, bytes / (micros * 1e3));
    }

    /** Median µs of one call of {@code work}, timed with events around it. */
    private static double time(Runnable work, CUstream stream, CUevent start, CUevent stop) {
        for (int i = 0; i < WARM; i++) {
            work.run();
        }
        double[] t = new double[RUNS];
        float[] ms = new float[1];
        for (int i = 0; i < RUNS; i++) {
            cuEventRecord(start, stream);
            work.run();
            cuEventRecord(stop, stream);
            cuEventSynchronize(stop);
            cuEventElapsedTime(ms, start, stop);
            t[i] = ms[0] * 1e3;
        }
        Arrays.sort(t);
        return t[RUNS / 2];
    }

    private static String arg(String[] args, String name, String dflt) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return dflt;
    }
}

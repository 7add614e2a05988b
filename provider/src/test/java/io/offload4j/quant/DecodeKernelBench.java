package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * A/B of the decode matrix-vector product, one thread, row by row: the scratch-free {@link RowKernel#dot} ("A",
 * with {@code -Dbench.a=old}) against the scratch form the CPU pass calls ("B"), interleaved in one process, medians
 * of the rounds, GB/s of weight bytes, thread CPU time. {@code -Dbench.scratch=N}: scratch floats (default 4 × cols);
 * {@code -Dbench.cols=N}: row width (default 4096; the 410M shape's projections are 1024 wide).
 * Two matrix sizes: one that stays in L2 (compute bound) and one far larger than the last-level cache (DRAM).
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp provider/target/classes:provider/target/test-classes \
 *      -Dbench.a=old io.offload4j.quant.DecodeKernelBench [FORMAT,... [rounds [bigMiB]]]
 * </pre>
 */
public final class DecodeKernelBench {
    private DecodeKernelBench() {}

    /** Thread CPU time, not wall time: the machine is shared, and time spent descheduled is not the kernel's. */
    private static final java.lang.management.ThreadMXBean CPU = java.lang.management.ManagementFactory.getThreadMXBean();
    /** -Dbench.a=old: A is the scratch-free dot (else also the scratch dot, an A/A check of the noise). */
    private static final boolean OLD = "old".equals(System.getProperty("bench.a"));

    public static void main(String[] args) {
        String[] formats = (args.length > 0 ? args[0] : "Q4_0,Q8_0,F16,Q4_K,Q6_K").split(",");
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 7;
        int bigMiB = args.length > 2 ? Integer.parseInt(args[2]) : 256;
        System.out.println("kernels: " + CpuKernels.description());
        int cols = Integer.getInteger("bench.cols", 4096);
        Random r = new Random(1);
        float[] x = QuantTestData.gaussian(r, cols);
        float[] src = QuantTestData.gaussian(r, cols);
        for (String f : formats) {
            GgmlType type = GgmlType.valueOf(f.trim());
            RowKernel k = CpuKernels.of(type);
            long rowBytes = type.bytesFor(cols);
            int small = (int) Math.max(8, (192 * 1024) / rowBytes) / 4 * 4;
            int big = (int) ((bigMiB * 1024L * 1024L) / rowBytes) / 4 * 4;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment m = arena.allocate(rowBytes * big, 64);
                RowKernel scalar = CpuKernels.scalar(type);
                for (int i = 0; i < big; i++) {
                    // perturb a little per row so rows differ
                    src[i % cols] += 0.01f;
                    if (i < 256 || i % 97 == 0) {
                        scalar.quantize(src, 0, m, i * rowBytes, cols);
                    } else {
                        MemorySegment.copy(m, (i % 256) * rowBytes, m, i * rowBytes, rowBytes);
                    }
                }
                float[] outA = new float[big];
                float[] outB = new float[big];
                float[] scratch = new float[Integer.getInteger("bench.scratch", 4 * cols)];
                for (int[] shape : new int[][] {{small}, {big}}) {
                    int rows = shape[0];
                    int reps = rows == small ? Math.max(1, (int) (3e8 / ((double) rowBytes * rows))) : 2;
                    double[] ta = new double[rounds];
                    double[] tb = new double[rounds];
                    for (int w = 0; w < 3; w++) {
                        runRows(k, m, rowBytes, rows, x, cols, outA, scratch, reps);
                        runScratch(k, m, rowBytes, rows, x, cols, outB, scratch, reps);
                    }
                    for (int i = 0; i < rounds; i++) {
                        ta[i] = runRows(k, m, rowBytes, rows, x, cols, outA, scratch, reps);
                        tb[i] = runScratch(k, m, rowBytes, rows, x, cols, outB, scratch, reps);
                    }
                    double maxErr = 0;
                    for (int i = 0; i < rows; i++) {
                        maxErr = Math.max(maxErr, Math.abs(outA[i] - outB[i]) / (1e-3 + Math.abs(outA[i])));
                    }
                    Arrays.sort(ta);
                    Arrays.sort(tb);
                    double bytes = (double) rowBytes * rows * reps;
                    System.out.printf(Locale.ROOT, "%-5s %8.1f MiB  A %6.2f GB/s  B %6.2f GB/s  (%.2fx)  maxRelDiff %.2e%n",
                            type, rowBytes * rows / 1048576.0, bytes / ta[rounds / 2], bytes / tb[rounds / 2],
                            ta[rounds / 2] / tb[rounds / 2], maxErr);
                }
            }
        }
    }

    private static double runRows(RowKernel k, MemorySegment m, long rowBytes, int rows, float[] x, int cols,
                                  float[] out, float[] scratch, int reps) {
        long t0 = CPU.getCurrentThreadCpuTime();
        for (int rep = 0; rep < reps; rep++) {
            for (int i = 0; i < rows; i++) {
                out[i] = OLD ? k.dot(m, i * rowBytes, x, 0, cols) : k.dot(m, i * rowBytes, x, 0, cols, scratch);
            }
        }
        return CPU.getCurrentThreadCpuTime() - t0;
    }

    private static double runScratch(RowKernel k, MemorySegment m, long rowBytes, int rows, float[] x, int cols,
                                   float[] out, float[] scratch, int reps) {
        long t0 = CPU.getCurrentThreadCpuTime();
        for (int rep = 0; rep < reps; rep++) {
            for (int i = 0; i < rows; i++) {
                out[i] = k.dot(m, i * rowBytes, x, 0, cols, scratch);
            }
        }
        return CPU.getCurrentThreadCpuTime() - t0;
    }
}

package io.offload4j.quant;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Single-thread matrix-vector benchmark of the row kernels: for each format, a {@code rows × cols}
 * matrix (default 4096 × 4096, random Gaussian weights quantized by this package) in native memory is
 * multiplied by a float vector, one {@link RowKernel#dot} per row, with the Vector API kernel and
 * with the scalar one. Reports ns per row, GB/s of weight bytes read, and bytes allocated per row after
 * warm-up (must be 0: the hot path allocates nothing); then the same for {@code dequantize}. Times are the benchmark thread's CPU time
 * ({@code ThreadMXBean}), so that other processes on a shared machine do not inflate them; the wall
 * time GB/s is printed too.
 *
 * <pre>
 * ./mvnw -q -B -pl provider test-compile
 * java --add-modules jdk.incubator.vector -cp provider/target/classes:provider/target/test-classes \
 *      io.offload4j.quant.KernelBenchmark [rows cols [seconds-per-measurement [FORMAT,...]]]
 * </pre>
 *
 * Use a JDK 25 {@code java}. Without {@code --add-modules jdk.incubator.vector} only the scalar
 * kernels exist and both columns show them.
 */
public final class KernelBenchmark {
    private KernelBenchmark() {}

    public static void main(String[] args) {
        int rows = args.length > 0 ? Integer.parseInt(args[0]) : 4096;
        int cols = args.length > 1 ? Integer.parseInt(args[1]) : 4096;
        double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 1.0;
        List<GgmlType> formats = new ArrayList<>();
        if (args.length > 3) {
            for (String f : args[3].split(",")) {
                formats.add(GgmlType.valueOf(f.trim()));
            }
        } else {
            formats.addAll(List.of(QuantTestData.FORMATS));
        }
        System.out.printf(Locale.ROOT, "kernels: %s%njava %s, %s, %d CPUs; matrix %d x %d, 1 thread, %.1f s per measurement%n",
                CpuKernels.description(), Runtime.version(), System.getProperty("os.arch"),
                Runtime.getRuntime().availableProcessors(), rows, cols, seconds);
        System.out.printf(Locale.ROOT, "%-5s %7s | %10s %7s %7s %6s | %10s %7s %7s %6s | %7s%n", "type", "MiB",
                "vec ns/row", "GB/s", "wall", "B/row", "sc ns/row", "GB/s", "wall", "B/row", "speedup");

        Random r = new Random(1);
        float[] x = QuantTestData.gaussian(r, cols);
        // A pool of distinct source rows: the values do not change the speed, and generating 16M
        // Gaussians per format would only slow the setup.
        float[][] pool = new float[16][];
        for (int i = 0; i < pool.length; i++) {
            pool[i] = QuantTestData.gaussian(r, cols);
        }
        float[] out = new float[Math.max(rows, cols)];
        List<String> dequant = new ArrayList<>();
        for (GgmlType type : formats) {
            long rowBytes = type.bytesFor(cols);
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment m = arena.allocate(rowBytes * rows, 64);
                RowKernel scalar = CpuKernels.scalar(type);
                for (int i = 0; i < rows; i++) {
                    scalar.quantize(pool[i % pool.length], 0, m, i * rowBytes, cols);
                }
                Result v = measure(CpuKernels.of(type), m, rowBytes, rows, cols, x, out, seconds, false);
                Result s = measure(scalar, m, rowBytes, rows, cols, x, out, seconds, false);
                Result dv = measure(CpuKernels.of(type), m, rowBytes, rows, cols, x, out, seconds / 2, true);
                Result ds = measure(scalar, m, rowBytes, rows, cols, x, out, seconds / 2, true);
                dequant.add(String.format(Locale.ROOT,
                        "%-5s %7.1f | %10.0f %7.2f %6.1f | %10.0f %7.2f %6.1f | %6.1fx",
                        type, rowBytes * rows / (1024.0 * 1024.0),
                        dv.nsPerRow, rowBytes / dv.nsPerRow, dv.allocPerRow,
                        ds.nsPerRow, rowBytes / ds.nsPerRow, ds.allocPerRow, ds.nsPerRow / dv.nsPerRow));
                double mib = rowBytes * rows / (1024.0 * 1024.0);
                System.out.printf(Locale.ROOT, "%-5s %7.1f | %10.0f %7.2f %7.2f %6.1f | %10.0f %7.2f %7.2f %6.1f | %6.1fx%n",
                        type, mib,
                        v.nsPerRow, rowBytes / v.nsPerRow, rowBytes / v.wallNsPerRow, v.allocPerRow,
                        s.nsPerRow, rowBytes / s.nsPerRow, rowBytes / s.wallNsPerRow, s.allocPerRow,
                        s.nsPerRow / v.nsPerRow);
            }
        }
        System.out.printf(Locale.ROOT, "%ndequantize (row by row into a float[%d]):%n%-5s %7s | %10s %7s %6s | %10s %7s %6s | %7s%n",
                cols, "type", "MiB", "vec ns/row", "GB/s", "B/row", "sc ns/row", "GB/s", "B/row", "speedup");
        dequant.forEach(System.out::println);
        double check = 0;
        for (float o : out) {
            check += o;
        }
        System.out.println("checksum " + check);
    }

    /** CPU-time and wall-time nanoseconds per row, bytes allocated per row. */
    private record Result(double nsPerRow, double wallNsPerRow, double allocPerRow) {}

    private static Result measure(RowKernel k, MemorySegment m, long rowBytes, int rows, int cols, float[] x,
                                  float[] out, double seconds, boolean dequantize) {
        // Warm-up: long enough for C2 to compile the kernel and its Vector API intrinsics.
        long warmEnd = System.nanoTime() + (long) (Math.max(0.5, seconds / 2) * 1e9);
        while (System.nanoTime() < warmEnd) {
            pass(k, m, rowBytes, rows, cols, x, out, dequantize);
        }
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long a0 = mx.getCurrentThreadAllocatedBytes();
        long passes = 0;
        long c0 = mx.getCurrentThreadCpuTime();
        long w0 = System.nanoTime();
        long budget = (long) (seconds * 1e9);
        long c;
        do {
            pass(k, m, rowBytes, rows, cols, x, out, dequantize);
            passes++;
            c = mx.getCurrentThreadCpuTime();
        } while (c - c0 < budget);
        long w = System.nanoTime();
        long alloc = mx.getCurrentThreadAllocatedBytes() - a0;
        double totalRows = (double) passes * rows;
        return new Result((c - c0) / totalRows, (w - w0) / totalRows, alloc / totalRows);
    }

    private static void pass(RowKernel k, MemorySegment m, long rowBytes, int rows, int cols, float[] x, float[] out,
                             boolean dequantize) {
        if (dequantize) {
            for (int i = 0; i < rows; i++) {
                k.dequantize(m, i * rowBytes, out, 0, cols);
            }
        } else {
            for (int i = 0; i < rows; i++) {
                out[i] = k.dot(m, i * rowBytes, x, 0, cols);
            }
        }
    }
}

package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemFree;
import static jcuda.driver.JCudaDriver.cuMemFreeHost;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;
import static jcuda.driver.JCudaDriver.cuMemcpyHtoDAsync;
import static jcuda.driver.JCudaDriver.cuStreamCreate;
import static jcuda.driver.JCudaDriver.cuStreamDestroy;
import static jcuda.driver.JCudaDriver.cuStreamSynchronize;

import io.offload4j.backend.cpu.CpuThreadPool;
import io.offload4j.gguf.GgmlType;
import io.offload4j.quant.CpuKernels;
import io.offload4j.quant.RowKernel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUstream;

/**
 * The physics under the CPU/PCIe split of batch-1 decode: how fast this host's cores read F16 weights (a plain
 * read, the fused F16 dot kernel, and decode-then-dot), at several thread counts, alone and while the DMA engine
 * streams pinned host memory to the GPU; and how fast that DMA runs alone and meanwhile. If host memory serves
 * both at once, CPU and PCIe bandwidths add; if not, their sum is capped by the memory system.
 *
 * <pre>java ... io.offload4j.backend.cuda.HostBandwidthBenchmark [GiB [threads,threads,...]]</pre>
 */
public final class HostBandwidthBenchmark {

    private static final ValueLayout.OfShort HALF = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int COLS = 4096;

    private HostBandwidthBenchmark() {}

    public static void main(String[] args) throws Exception {
        double gib = args.length > 0 ? Double.parseDouble(args[0]) : 1.0;
        String threadList = args.length > 1 ? args[1] : "1,4,8," + Runtime.getRuntime().availableProcessors();
        long bytes = (long) (gib * (1L << 30)) / (2L * COLS) * (2L * COLS);
        int rows = (int) (bytes / (2L * COLS));
        MemorySegment weights = Arena.global().allocate(bytes, 64);
        for (long i = 0; i < bytes / 2; i++) {
            weights.set(HALF, 2 * i, Float.floatToFloat16((float) Math.sin(i * 0.37) * 0.02f));
        }
        float[] x = new float[COLS];
        for (int i = 0; i < COLS; i++) {
            x[i] = (float) Math.cos(i * 0.11);
        }
        System.out.printf(Locale.ROOT, "host: %d CPUs, %s; F16 matrix %d x %d (%.2f GiB)%n",
                Runtime.getRuntime().availableProcessors(), CpuKernels.description(), rows, COLS, bytes / (double) (1L << 30));

        try (CudaDevice device = CudaDevice.open(0)) {
            device.makeCurrent();
            Copier copier = new Copier(device, 1L << 30);
            double alone = copier.measureAlone(2.0);
            System.out.printf(Locale.ROOT, "H2D pinned alone: %.1f GB/s%n%n", alone);
            // The same bytes in a file, mapped as model weights are (page cache, 4 KiB pages unless the file system
            // gives huge ones).
            Path file = Files.createTempFile("offload4j-hostbw", ".bin");
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                ch.write(weights.asByteBuffer());
            }
            MemorySegment mapped;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
                mapped = ch.map(FileChannel.MapMode.READ_ONLY, 0, bytes, Arena.global());
            }
            Files.delete(file);
            System.out.println("| memory | threads | kernel | CPU GB/s alone | CPU GB/s with copies | copy GB/s meanwhile | sum |");
            System.out.println("|---|---|---|---|---|---|---|");
            for (String source : new String[] {"anonymous", "file mapping"}) {
                MemorySegment w = source.equals("anonymous") ? weights : mapped;
                for (String t : threadList.split(",")) {
                    int threads = Integer.parseInt(t.trim());
                    try (CpuThreadPool pool = new CpuThreadPool(threads)) {
                        for (String kernel : new String[] {"read", "f16-dot", "decode+dot"}) {
                            Pass pass = new Pass(kernel, w, rows, x, pool);
                            double cpuAlone = pass.measure(1.5);
                            copier.start();
                            double cpuWith = pass.measure(1.5);
                            double copyWith = copier.stop();
                            System.out.printf(Locale.ROOT, "| %s | %d | %s | %.1f | %.1f | %.1f | %.1f |%n", source,
                                    threads, kernel, cpuAlone, cpuWith, copyWith, cpuWith + copyWith);
                        }
                    }
                }
            }
            copier.close();
        }
    }

    /** One multi-threaded pass over the whole matrix with one kernel. */
    private static final class Pass implements CpuThreadPool.RangeTask {
        private final String kernel;
        private final MemorySegment w;
        private final int rows;
        private final float[] x;
        private final float[] out;
        private final float[][] scratch;
        private final CpuThreadPool pool;
        private final RowKernel f16 = CpuKernels.of(GgmlType.F16);

        Pass(String kernel, MemorySegment w, int rows, float[] x, CpuThreadPool pool) {
            this.kernel = kernel;
            this.w = w;
            this.rows = rows;
            this.x = x;
            this.out = new float[rows];
            this.pool = pool;
            this.scratch = new float[pool.threads()][COLS]; // a whole row, as the CPU pass gives it
        }

        double measure(double seconds) {
            long warm = System.nanoTime();
            while (System.nanoTime() - warm < 1_000_000_000L) {
                pool.run(rows, 64, this);
            }
            long t0 = System.nanoTime();
            long passes = 0;
            do {
                pool.run(rows, 64, this);
                passes++;
            } while (System.nanoTime() - t0 < seconds * 1e9);
            return passes * (double) rows * 2 * COLS / (System.nanoTime() - t0);
        }

        @Override
        public void run(int start, int end, int worker) {
            long rowBytes = 2L * COLS;
            switch (kernel) {
                case "read" -> {
                    for (int r = start; r < end; r++) {
                        long sum = 0;
                        for (long o = r * rowBytes; o < (r + 1) * rowBytes; o += 8) {
                            sum += w.get(ValueLayout.JAVA_LONG_UNALIGNED, o);
                        }
                        out[r] = sum;
                    }
                }
                case "f16-dot" -> {
                    for (int r = start; r < end; r++) {
                        out[r] = f16.dot(w, r * rowBytes, x, 0, COLS);
                    }
                }
                default -> {
                    float[] s = scratch[worker];
                    for (int r = start; r < end; r++) {
                        out[r] = f16.dot(w, r * rowBytes, x, 0, COLS, s);
                    }
                }
            }
        }
    }

    /** Back-to-back 64 MiB pinned host-to-device copies on their own thread and stream. */
    private static final class Copier implements AutoCloseable {
        private final CudaDevice device;
        private final long bytes;
        private final Pointer host = new Pointer();
        private final CUdeviceptr dev = new CUdeviceptr();
        private final CUstream stream = new CUstream();
        private final AtomicBoolean running = new AtomicBoolean();
        private final AtomicLong copied = new AtomicLong();
        private Thread thread;
        private long startNanos;

        Copier(CudaDevice device, long bytes) {
            this.device = device;
            this.bytes = bytes;
            cuMemHostAlloc(host, bytes, 0);
            cuMemAlloc(dev, bytes);
            cuStreamCreate(stream, 0);
        }

        double measureAlone(double seconds) throws InterruptedException {
            start();
            Thread.sleep((long) (seconds * 1000));
            return stop();
        }

        void start() {
            running.set(true);
            copied.set(0);
            thread = Thread.ofPlatform().start(() -> {
                device.makeCurrent();
                long chunk = 64L << 20;
                boolean first = true;
                while (running.get()) {
                    for (long o = 0; o < bytes && running.get(); o += chunk) {
                        cuMemcpyHtoDAsync(dev.withByteOffset(o), host.withByteOffset(o), chunk, stream);
                        cuStreamSynchronize(stream);
                        if (first) { // the first copy warms the path up; time from its end
                            first = false;
                            startNanos = System.nanoTime();
                        } else {
                            copied.addAndGet(chunk);
                        }
                    }
                }
            });
        }

        double stop() throws InterruptedException {
            running.set(false);
            thread.join();
            return copied.get() / (double) (System.nanoTime() - startNanos);
        }

        @Override
        public void close() {
            cuStreamDestroy(stream);
            cuMemFree(dev);
            cuMemFreeHost(host);
        }
    }
}

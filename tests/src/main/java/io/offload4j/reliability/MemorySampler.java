package io.offload4j.reliability;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;

import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.JCudaDriver;

/**
 * Prints the process's memory every few seconds: Java heap in use, RSS, and for a CUDA device the device memory in
 * use as {@code cuMemGetInfo} reports it (through the device's primary context, the one the engine uses, so the
 * sampler adds no context of its own). One line per sample, so that a flat or growing series is easy to read.
 */
final class MemorySampler {

    private static final long START = System.nanoTime();
    private static boolean cudaReady;

    private MemorySampler() {
    }

    static ScheduledExecutorService start(long everySeconds, String device, PrintStream out) {
        ScheduledExecutorService s = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "memory-sampler");
            t.setDaemon(true);
            return t;
        });
        s.scheduleAtFixedRate(() -> sample(device, out, "sample"), 0, everySeconds, TimeUnit.SECONDS);
        return s;
    }

    /** One line: seconds since start, heap, RSS, and device memory used / total where there is a GPU. */
    static synchronized void sample(String device, PrintStream out, String label) {
        String gpu = deviceMemory(device);
        out.printf(Locale.ROOT, "%s t=%6.1f s heap=%d MB rss=%d MB%s%n", label, (System.nanoTime() - START) / 1e9,
                ProcessMemory.heapUsedBytes() >> 20, ProcessMemory.rssBytes() >> 20, gpu);
    }

    private static String deviceMemory(String device) {
        if (!device.startsWith("cuda") && !device.equals("auto")) {
            return "";
        }
        try {
            if (!cudaReady) {
                JCudaDriver.setExceptionsEnabled(true);
                cuInit(0);
                CUdevice d = new CUdevice();
                cuDeviceGet(d, device.startsWith("cuda:") ? Integer.parseInt(device.substring(5)) : 0);
                CUcontext c = new CUcontext();
                cuDevicePrimaryCtxRetain(c, d);
                cuCtxSetCurrent(c); // this sampler thread only
                cudaReady = true;
            }
            long[] free = new long[1];
            long[] total = new long[1];
            cuMemGetInfo(free, total);
            return " device_used=" + ((total[0] - free[0]) >> 20) + " MB of " + (total[0] >> 20) + " MB";
        } catch (RuntimeException | LinkageError e) {
            return " device=unavailable (" + e.getMessage() + ")";
        }
    }
}

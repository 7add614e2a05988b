package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuCtxSetCurrent;
import static jcuda.driver.JCudaDriver.cuDeviceComputeCapability;
import static jcuda.driver.JCudaDriver.cuDeviceGet;
import static jcuda.driver.JCudaDriver.cuDeviceGetAttribute;
import static jcuda.driver.JCudaDriver.cuDeviceGetCount;
import static jcuda.driver.JCudaDriver.cuDeviceGetName;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRelease;
import static jcuda.driver.JCudaDriver.cuDevicePrimaryCtxRetain;
import static jcuda.driver.JCudaDriver.cuDeviceTotalMem;
import static jcuda.driver.JCudaDriver.cuDriverGetVersion;
import static jcuda.driver.JCudaDriver.cuInit;
import static jcuda.driver.JCudaDriver.cuMemGetInfo;

import java.nio.charset.StandardCharsets;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/**
 * One CUDA device, through JCuda's driver API (which needs only the NVIDIA driver, {@code libcuda.so.1}):
 * its primary context, made current on whichever thread calls {@link #makeCurrent()}, and facts about
 * it. The primary context is shared with anything else in the process that uses the same device.
 */
public final class CudaDevice implements AutoCloseable {

    private final int ordinal;
    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final String name;
    private final int multiprocessors;
    private final int computeMajor;
    private final int computeMinor;
    private final long totalMemory;
    private final int driverVersion;
    private boolean closed;

    private CudaDevice(int ordinal) {
        this.ordinal = ordinal;
        cuDeviceGet(device, ordinal);
        cuDevicePrimaryCtxRetain(context, device);
        cuCtxSetCurrent(context);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, device);
        int len = 0;
        while (len < nameBytes.length && nameBytes[len] != 0) {
            len++;
        }
        name = new String(nameBytes, 0, len, StandardCharsets.UTF_8);
        int[] v = new int[1];
        cuDeviceGetAttribute(v, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        multiprocessors = v[0];
        int[] major = new int[1];
        int[] minor = new int[1];
        cuDeviceComputeCapability(major, minor, device);
        computeMajor = major[0];
        computeMinor = minor[0];
        long[] mem = new long[1];
        cuDeviceTotalMem(mem, device);
        totalMemory = mem[0];
        cuDriverGetVersion(v);
        driverVersion = v[0];
    }

    /**
     * Opens device {@code ordinal}.
     *
     * @throws IllegalStateException with the reason when no usable device is there
     */
    public static CudaDevice open(int ordinal) {
        String reason = unavailableReason(ordinal);
        if (reason != null) {
            throw new IllegalStateException("CUDA device " + ordinal + " is not usable: " + reason);
        }
        return new CudaDevice(ordinal);
    }

    /**
     * Why device {@code ordinal} cannot be used, or {@code null} when it can. Never throws: this is what
     * {@code --device auto} asks before falling back to the CPU.
     */
    public static String unavailableReason(int ordinal) {
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            if (count[0] == 0) {
                return "the NVIDIA driver reports no CUDA device";
            }
            if (ordinal < 0 || ordinal >= count[0]) {
                return "there are " + count[0] + " CUDA device(s): cuda:0.." + "cuda:" + (count[0] - 1);
            }
            CUdevice d = new CUdevice();
            cuDeviceGet(d, ordinal);
            int[] major = new int[1];
            int[] minor = new int[1];
            cuDeviceComputeCapability(major, minor, d);
            if (major[0] < 8) {
                return "compute capability " + major[0] + "." + minor[0]
                        + " is below 8.0; the kernels are built for Ampere (sm_80) and newer";
            }
            return null;
        } catch (LinkageError e) {
            // JCuda's native library could not load: no libcuda.so.1 (no NVIDIA driver) or no natives jar.
            return "the CUDA driver library could not be loaded (" + firstLine(e.getMessage())
                    + "); install the NVIDIA driver, or use --device cpu";
        } catch (RuntimeException e) {
            return "the CUDA driver failed: " + firstLine(e.getMessage());
        }
    }

    /** How many CUDA devices the driver shows; 0 when there is no usable driver. Never throws. */
    public static int count() {
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            return count[0];
        } catch (LinkageError | RuntimeException e) {
            return 0;
        }
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "no message";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    /** Makes this device's context current on the calling thread (CUDA contexts are per thread). */
    public void makeCurrent() {
        cuCtxSetCurrent(context);
    }

    CUcontext context() {
        return context;
    }

    /**
     * Lets this device's kernels and copies reach {@code other}'s memory directly (NVLink or PCIe peer to peer);
     * false where the GPUs cannot (copies between them are then staged through host memory by the driver).
     */
    boolean enablePeerAccess(CudaDevice other) {
        int[] can = new int[1];
        jcuda.driver.JCudaDriver.cuDeviceCanAccessPeer(can, device, other.device);
        if (can[0] == 0) {
            return false;
        }
        makeCurrent();
        try {
            jcuda.driver.JCudaDriver.cuCtxEnablePeerAccess(other.context, 0);
        } catch (jcuda.CudaException e) {
            if (!e.getMessage().contains("CUDA_ERROR_PEER_ACCESS_ALREADY_ENABLED")) {
                return false;
            }
        }
        return true;
    }

    /** Bytes of device memory free right now. */
    public long freeMemory() {
        makeCurrent();
        long[] free = new long[1];
        long[] total = new long[1];
        cuMemGetInfo(free, total);
        return free[0];
    }

    public int ordinal() {
        return ordinal;
    }

    public String name() {
        return name;
    }

    public int multiprocessors() {
        return multiprocessors;
    }

    public long totalMemory() {
        return totalMemory;
    }

    /** e.g. "cuda:0 NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 79.1 GiB, driver 13.0)". */
    public String description() {
        return String.format("cuda:%d %s (sm_%d%d, %d SMs, %.1f GiB, driver CUDA %d.%d)", ordinal, name, computeMajor,
                computeMinor, multiprocessors, totalMemory / (double) (1L << 30), driverVersion / 1000,
                driverVersion % 1000 / 10);
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            cuDevicePrimaryCtxRelease(device);
        }
    }
}

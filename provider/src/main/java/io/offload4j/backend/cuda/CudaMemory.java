package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemAlloc;
import static jcuda.driver.JCudaDriver.cuMemHostAlloc;

import io.offload4j.backend.DeviceMemoryException;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUdeviceptr;

/**
 * Allocations that say what ran out: JCuda reports a failed {@code cuMemAlloc} as
 * {@code CudaException("CUDA_ERROR_OUT_OF_MEMORY")}, which tells a user nothing about what was being allocated.
 */
final class CudaMemory {

    private CudaMemory() {}

    /** Device memory for {@code what}; out of memory becomes a {@link DeviceMemoryException}. */
    static void alloc(CUdeviceptr p, long bytes, String device, String what) {
        try {
            cuMemAlloc(p, bytes);
        } catch (CudaException e) {
            throw translate(e, device, what, bytes);
        }
    }

    /** Pinned host memory for {@code what}; out of memory becomes a {@link DeviceMemoryException}. */
    static void allocHost(Pointer p, long bytes, int flags, String what) {
        try {
            cuMemHostAlloc(p, bytes, flags);
        } catch (CudaException e) {
            throw translate(e, "pinned host memory", what, bytes);
        }
    }

    /** The project's exception for an out-of-memory error, the JCuda exception itself for any other. */
    static RuntimeException translate(CudaException e, String device, String what, long bytes) {
        String m = e.getMessage();
        if (m != null && m.contains("OUT_OF_MEMORY")) {
            return new DeviceMemoryException(device, what, bytes, e);
        }
        return e;
    }
}

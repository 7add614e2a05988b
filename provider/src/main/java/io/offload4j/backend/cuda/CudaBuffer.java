package io.offload4j.backend.cuda;

import static jcuda.driver.JCudaDriver.cuMemFree;

import io.offload4j.backend.DeviceWeights;
import jcuda.driver.CUdeviceptr;

/** Device memory holding a unit: a resident allocation (freed by {@link #free}) or a ring's slot (owned by the ring). */
record CudaBuffer(CUdeviceptr ptr, long bytes, boolean owned) implements DeviceWeights {

    @Override
    public void free() {
        if (owned) {
            cuMemFree(ptr);
        }
    }
}

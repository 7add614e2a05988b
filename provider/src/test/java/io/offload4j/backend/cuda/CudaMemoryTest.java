package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.DeviceMemoryException;
import jcuda.CudaException;
import org.junit.jupiter.api.Test;

/** JCuda's out-of-memory error becomes the project's, naming the device and what was being allocated. */
class CudaMemoryTest {

    @Test
    void outOfMemorySaysWhatRanOutAndOtherErrorsPassThrough() {
        RuntimeException oom = CudaMemory.translate(new CudaException("CUDA_ERROR_OUT_OF_MEMORY"), "NVIDIA H100",
                "the keys of a 4096-position KV cache", 3L << 30);
        DeviceMemoryException e = assertInstanceOf(DeviceMemoryException.class, oom);
        assertTrue(e.getMessage().startsWith("NVIDIA H100 is out of memory: the keys of a 4096-position KV cache"
                + " needs 3072.0 MiB"), e.getMessage());
        assertTrue(e.getMessage().contains("lower the GPU memory budget"), e.getMessage());
        CudaException other = new CudaException("CUDA_ERROR_ILLEGAL_ADDRESS");
        assertSame(other, CudaMemory.translate(other, "NVIDIA H100", "x", 1));
    }
}

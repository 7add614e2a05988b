package io.offload4j.backend.cuda;

import io.offload4j.backend.Backend;
import io.offload4j.backend.ForwardPass;
import io.offload4j.model.Model;
import io.offload4j.offload.OffloadOptions;

/**
 * Runs models entirely on one NVIDIA GPU: weights uploaded once in their GGUF formats, our own kernels
 * (JCuda driver API, fatbin resource), fp16 KV cache, one compute stream, the decode step replayed
 * as a CUDA graph. The model must fit in device memory (streaming the rest is the offload layer's job).
 */
public final class CudaBackend implements Backend {

    private final CudaDevice device;
    private final CudaKernels kernels;

    /**
     * @throws IllegalStateException with the reason when device {@code ordinal} cannot be used
     */
    public CudaBackend(int ordinal) {
        this.device = CudaDevice.open(ordinal);
        try {
            device.makeCurrent();
            this.kernels = new CudaKernels();
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    CudaDevice device() {
        return device;
    }

    CudaKernels kernels() {
        return kernels;
    }

    @Override
    public String description() {
        return device.description() + ", JCuda driver API";
    }

    @Override
    public ForwardPass prepare(Model model, int maxContext, int maxChunkTokens) {
        device.makeCurrent();
        return new CudaForwardPass(device, kernels, model, maxContext, maxChunkTokens);
    }

    @Override
    public ForwardPass prepare(Model model, int maxContext, int maxChunkTokens, OffloadOptions offload) {
        device.makeCurrent();
        return new CudaForwardPass(device, kernels, model, maxContext, maxChunkTokens, offload);
    }

    @Override
    public void close() {
        device.makeCurrent();
        kernels.close();
        device.close();
    }
}

package io.offload4j.backend;

import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.backend.cuda.CudaBackend;
import io.offload4j.backend.cuda.CudaDevice;

/** Creates the backend a {@link Device} asks for: the one place that knows every device kind. */
public final class Backends {

    private Backends() {}

    /**
     * @param device  which device ({@link Device#AUTO}: the GPU when one is usable, else the CPU)
     * @param threads CPU threads, or 0 for one per available processor
     * @throws IllegalArgumentException when a CUDA device was asked for and cannot be used, with the reason
     */
    public static Backend create(Device device, int threads) {
        switch (device.kind()) {
            case CPU -> {
                return new CpuBackend(threads);
            }
            case AUTO -> {
                // Any failure to bring up CUDA (no driver, no device, old GPU, broken natives) means the CPU.
                try {
                    if (CudaDevice.unavailableReason(0) == null) {
                        return new CudaBackend(0);
                    }
                } catch (RuntimeException | LinkageError e) {
                    // fall through to the CPU
                }
                return new CpuBackend(threads);
            }
            default -> {
                String reason = CudaDevice.unavailableReason(device.ordinal());
                if (reason != null) {
                    throw new IllegalArgumentException("device '" + device + "' is not usable: " + reason
                            + "; use --device cpu (or auto, which falls back to the CPU)");
                }
                return new CudaBackend(device.ordinal());
            }
        }
    }

    /** {@link #create(Device, int)} for a device written as users write it ({@code auto}, {@code cuda:1} …). */
    public static Backend create(String device, int threads) {
        return create(Device.parse(device), threads);
    }
}

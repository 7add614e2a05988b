package io.offload4j.backend;

import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.backend.cuda.CudaBackend;
import io.offload4j.backend.cuda.CudaDevice;
import java.util.Locale;

/** Creates the backend a device name asks for. */
public final class Backends {

    private Backends() {}

    /**
     * @param device {@code auto} (the GPU when one is usable, else the CPU), {@code cpu},
     *               {@code cuda} or {@code cuda:N}
     * @param threads CPU threads, or 0 for one per available processor
     */
    public static Backend create(String device, int threads) {
        String d = device == null ? "auto" : device.trim().toLowerCase(Locale.ROOT);
        if (d.equals("cpu")) {
            return new CpuBackend(threads);
        }
        if (d.equals("auto")) {
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
        if (d.equals("cuda") || d.matches("cuda:\\d+")) {
            int ordinal = d.equals("cuda") ? 0 : Integer.parseInt(d.substring(5));
            String reason = CudaDevice.unavailableReason(ordinal);
            if (reason != null) {
                throw new IllegalArgumentException("device '" + device + "' is not usable: " + reason
                        + "; use the cpu device (or auto, which falls back to the CPU)");
            }
            return new CudaBackend(ordinal);
        }
        throw new IllegalArgumentException("unknown device '" + device + "'; expected auto, cpu, cuda or cuda:N");
    }
}

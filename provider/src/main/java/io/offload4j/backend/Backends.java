package io.offload4j.backend;

import io.offload4j.backend.cpu.CpuBackend;
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
        if (d.equals("auto") || d.equals("cpu")) {
            return new CpuBackend(threads);
        }
        if (d.equals("cuda") || d.matches("cuda:\\d+")) {
            throw new IllegalArgumentException("device '" + device + "': this build has no CUDA backend yet;"
                    + " use --device cpu (or auto)");
        }
        throw new IllegalArgumentException("unknown device '" + device + "'; expected auto, cpu, cuda or cuda:N");
    }
}

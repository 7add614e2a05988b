package io.offload4j.backend;

import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.backend.cuda.CudaBackend;
import io.offload4j.backend.cuda.CudaDevice;
import java.util.ArrayList;
import java.util.List;

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
            case CUDA_GROUP -> {
                return group(device, threads);
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

    /**
     * Every GPU of the group brought up in order (or, for {@code cuda:all}, every GPU the driver shows; one GPU alone is
     * simply that GPU); on any failure the ones already up are closed and the reason names the GPU.
     */
    private static Backend group(Device device, int threads) {
        List<Integer> ordinals = device.ordinals();
        if (ordinals.isEmpty()) {
            int count = CudaDevice.count();
            if (count == 0) {
                throw new IllegalArgumentException("device 'cuda:all' is not usable: " + CudaDevice.unavailableReason(0)
                        + "; use device cpu (or auto, which falls back to the CPU)");
            }
            if (count == 1) {
                return create(Device.cuda(0), threads);
            }
            ordinals = java.util.stream.IntStream.range(0, count).boxed().toList();
        }
        List<Accelerator> members = new ArrayList<>();
        List<String> physical = new ArrayList<>();
        try {
            for (int ordinal : ordinals) {
                String reason = CudaDevice.unavailableReason(ordinal);
                if (reason != null) {
                    throw new IllegalArgumentException("device '" + device + "': cuda:" + ordinal
                            + " is not usable: " + reason);
                }
                members.add(new CudaBackend(ordinal));
                physical.add("cuda:" + ordinal);
            }
            return new AcceleratorGroup(members, physical);
        } catch (RuntimeException | Error e) {
            members.forEach(Accelerator::close);
            throw e;
        }
    }

    /** {@link #create(Device, int)} for a device written as users write it ({@code auto}, {@code cuda:1} …). */
    public static Backend create(String device, int threads) {
        return create(Device.parse(device), threads);
    }
}

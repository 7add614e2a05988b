package io.offload4j.offload;

/**
 * Bandwidths measured at start-up, the planner's inputs.
 *
 * @param hostToDeviceGBs host → GPU copy bandwidth from pinned memory, GB/s (10^9 bytes per second)
 * @param cpuWeightGBs    bytes of weights per second the CPU backend streams through its dot products at one token,
 *                        GB/s; 0 when unknown (the CPU is then never chosen)
 */
public record Bandwidths(double hostToDeviceGBs, double cpuWeightGBs) {

    public Bandwidths {
        if (!(hostToDeviceGBs > 0)) {
            throw new IllegalArgumentException("host-to-device bandwidth must be positive, was " + hostToDeviceGBs);
        }
        if (!(cpuWeightGBs >= 0)) {
            throw new IllegalArgumentException("CPU weight bandwidth must be >= 0, was " + cpuWeightGBs);
        }
    }
}

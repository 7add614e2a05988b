package io.offload4j.offload;

import java.util.Locale;

/** What happens to the units that do not fit the accelerator's budget. */
public enum PlacementPolicy {
    /** The planner decides per unit from the measured bandwidths: streamed, or computed by the CPU at decode. */
    AUTO,
    /** Copied to the accelerator for every step; the CPU never computes a unit. */
    STREAM,
    /** Computed by the CPU from host memory at batch-1 decode (llama.cpp's choice). */
    CPU;

    /** The lower-case name users write ({@code auto}, {@code stream}, {@code cpu}). */
    public String configName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** @throws IllegalArgumentException naming the accepted values */
    public static PlacementPolicy parse(String name) {
        if (name == null) {
            return AUTO;
        }
        for (PlacementPolicy p : values()) {
            if (p.configName().equals(name.trim().toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new IllegalArgumentException("placement must be auto, stream or cpu, was '" + name + "'");
    }

    @Override
    public String toString() {
        return configName();
    }
}

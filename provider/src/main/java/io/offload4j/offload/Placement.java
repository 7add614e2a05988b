package io.offload4j.offload;

/** Where one unit of weights (a transformer block, or a slice of the output head) is computed from. */
public enum Placement {
    /** Kept in GPU memory for the life of the model: read at HBM speed. */
    RESIDENT,
    /** Copied host → GPU through a staging slot for every step that needs it: read at PCIe speed. */
    STREAMED,
    /** Computed by the CPU backend from host memory: read at host-memory speed, no PCIe traffic. */
    CPU
}

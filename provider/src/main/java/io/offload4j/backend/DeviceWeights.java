package io.offload4j.backend;

/**
 * One unit's weights in an accelerator's memory: a resident buffer, or a staging slot that streamed units take
 * turns in. Opaque to the layers above; {@link #free()} returns the memory (a no-op for a slot, which its ring owns).
 */
public interface DeviceWeights {

    long bytes();

    void free();
}

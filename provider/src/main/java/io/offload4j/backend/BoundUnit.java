package io.offload4j.backend;

/**
 * A unit (a transformer block or a slice of the output head) bound to the device memory it computes from: made once
 * per placement, at preparation, and passed back to {@link AcceleratorModel} at every step, so the per-step path
 * looks nothing up. Opaque to the layers above.
 */
public interface BoundUnit {}

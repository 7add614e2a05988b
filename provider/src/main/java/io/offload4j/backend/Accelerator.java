package io.offload4j.backend;

import io.offload4j.model.Model;

/**
 * A device with memory of its own (a GPU): it holds the units it is given, runs them for a {@link Step}, and streams
 * others through a {@link CopyRing}. Which units it holds, which it streams and which the CPU computes is decided
 * above it, by the offload layer; the accelerator never sees a plan.
 */
public interface Accelerator extends Backend {

    /** A short name for messages, e.g. {@code "NVIDIA H100 80GB HBM3 (cuda:0)"}. */
    String name();

    /** Device memory free now, in bytes. */
    long freeMemory();

    /**
     * Device bytes a model prepared with {@code options} allocates besides its unit weights and KV caches
     * (activations, scratch, norm vectors), so that the weight budget can be set before anything is allocated.
     */
    long workspaceBytes(Model model, AcceleratorOptions options);

    /** Bytes of a KV cache of {@code capacity} positions of {@code model} on this device. */
    long kvCacheBytes(Model model, int capacity);

    /**
     * Checks that this device can run {@code model} and allocates its workspace; no unit weights yet.
     *
     * @throws io.offload4j.gguf.ModelFormatException naming the tensor or shape this device cannot compute with
     */
    AcceleratorModel load(Model model, AcceleratorOptions options);

    /**
     * Host → device copy bandwidth from pinned memory, in GB/s, measured with copies of {@code bytes}; when
     * {@code whileRunning} is not null, copies keep the link busy for {@code busyNanos} while it runs (so that a
     * CPU measurement sees the memory traffic streaming causes).
     */
    double measureHostToDevice(long bytes, long busyNanos, Runnable whileRunning);
}

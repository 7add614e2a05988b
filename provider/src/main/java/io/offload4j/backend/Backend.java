package io.offload4j.backend;

import io.offload4j.model.Model;
import io.offload4j.offload.OffloadOptions;

/**
 * A compute device that runs a model's forward pass. The engine talks only to this interface;
 * the CPU implementation lives in {@code backend.cpu}, the CUDA one in {@code backend.cuda}.
 */
public interface Backend extends AutoCloseable {

    /** Human-readable description, e.g. {@code "cpu (2 threads, Vector API)"}. */
    String description();

    /**
     * Prepares {@code model} for inference on this device.
     *
     * @param maxContext     the longest sequence (prompt + generated) any KV cache will hold
     * @param maxChunkTokens how many prompt tokens one {@link ForwardPass#forward} call may take
     */
    ForwardPass prepare(Model model, int maxContext, int maxChunkTokens);

    /**
     * Prepares {@code model} with an offloading configuration: a backend with a memory budget (the GPU) keeps
     * what fits and streams or delegates the rest; one without (the CPU) ignores {@code offload}.
     */
    default ForwardPass prepare(Model model, int maxContext, int maxChunkTokens, OffloadOptions offload) {
        return prepare(model, maxContext, maxChunkTokens);
    }

    @Override
    void close();
}

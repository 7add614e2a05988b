package io.offload4j.backend;

import io.offload4j.model.Model;

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

    @Override
    void close();
}

package io.offload4j.backend;

/**
 * A compute device. Two kinds are peers under it: the CPU ({@code backend.cpu.CpuBackend}), which runs a whole
 * model from the file mapping or single blocks for a hybrid step, and an {@link Accelerator} (the GPU,
 * {@code backend.cuda}), which runs the units the offload layer places on it. Neither knows of the other, of
 * placement or of caching: the offload layer above them prepares the forward pass
 * ({@code offload.TieredPasses.prepare}).
 */
public interface Backend extends AutoCloseable {

    /** Human-readable description, e.g. {@code "cpu (2 threads, Vector API)"}. */
    String description();

    /**
     * A BERT-family encoder on this device, taking up to {@code maxRows} tokens per call (the CPU's, or one GPU's,
     * weights resident); devices without encoder kernels refuse ({@code embedding.EncoderDeviceChoice} then uses the
     * CPU for {@code auto}, and reports the refusal for a device asked for by name).
     */
    default EncoderPass prepareEncoder(io.offload4j.model.EncoderModel model, int maxRows) {
        throw new UnsupportedOperationException(description() + " has no encoder kernels");
    }

    @Override
    void close();
}

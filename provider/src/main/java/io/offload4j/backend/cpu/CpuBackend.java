package io.offload4j.backend.cpu;

import io.offload4j.backend.Backend;
import io.offload4j.backend.ForwardPass;
import io.offload4j.model.Model;
import io.offload4j.quant.CpuKernels;

/** Runs models on the CPU: Vector API kernels (scalar without the module), one thread per core. */
public final class CpuBackend implements Backend {

    private final int threads;

    /** @param threads worker threads, or 0 for one per available processor */
    public CpuBackend(int threads) {
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be 0 (auto) or positive: " + threads);
        }
        this.threads = threads == 0 ? Runtime.getRuntime().availableProcessors() : threads;
    }

    @Override
    public String description() {
        return "cpu (" + threads + " thread" + (threads == 1 ? "" : "s") + ", "
                + (CpuKernels.vectorized() ? "Vector API" : "scalar kernels: start Java with --add-modules jdk.incubator.vector")
                + ")";
    }

    /** The whole model on the CPU, computed from the file mapping. */
    public ForwardPass prepare(Model model, int maxContext, int maxChunkTokens) {
        return new CpuForwardPass(model, new CpuThreadPool(threads), maxContext, maxChunkTokens);
    }

    /** A BERT-family encoder on the CPU, computed from the file mapping. */
    @Override
    public io.offload4j.backend.EncoderPass prepareEncoder(io.offload4j.model.EncoderModel model, int maxRows) {
        return new CpuEncoderPass(model, new CpuThreadPool(threads), maxRows, description());
    }

    @Override
    public void close() {
        // pools belong to the forward passes
    }
}

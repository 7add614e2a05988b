package io.offload4j.backend.cuda;

import io.offload4j.model.Model;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.TieredForwardPass;
import io.offload4j.offload.TieredPasses;

/** The GPU tests' way to prepare a model on the GPU: through the offload layer, as the engine does. */
final class Passes {

    private Passes() {}

    static TieredForwardPass on(CudaBackend gpu, Model model, int maxContext, int maxChunk) {
        return on(gpu, model, maxContext, maxChunk, OffloadOptions.DEFAULTS);
    }

    static TieredForwardPass on(CudaBackend gpu, Model model, int maxContext, int maxChunk, OffloadOptions options) {
        return (TieredForwardPass) TieredPasses.prepare(gpu, model, maxContext, maxChunk, options);
    }
}

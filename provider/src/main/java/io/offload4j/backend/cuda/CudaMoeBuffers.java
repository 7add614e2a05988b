package io.offload4j.backend.cuda;

import io.offload4j.model.BlockWeights;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import io.offload4j.model.MoeConfig;
import java.util.function.Function;
import java.util.function.LongFunction;
import jcuda.driver.CUdeviceptr;

/**
 * The device buffers of a mixture of experts' sparse FFN, for up to {@code rows} tokens, allocated with the
 * workspace: the normalised input, the router's logits (softmax in place), each token's chosen experts and their
 * weights, the chosen experts' hidden states, the shared expert's hidden state, and each block's shared-expert gate
 * vector.
 */
final class CudaMoeBuffers {

    final CUdeviceptr xb;
    final CUdeviceptr logits;
    final CUdeviceptr chosen;
    final CUdeviceptr weights;
    final CUdeviceptr hidden;
    final CUdeviceptr sharedHidden;
    /** Per block: the shared expert's gate input vector, or null. */
    final CUdeviceptr[] sharedGateInput;

    CudaMoeBuffers(Model model, int rows, LongFunction<CUdeviceptr> alloc, Function<float[], CUdeviceptr> upload) {
        ModelConfig c = model.config();
        MoeConfig m = c.moe();
        int k = m.expertUsedCount();
        xb = alloc.apply(4L * rows * c.embeddingLength());
        logits = alloc.apply(4L * rows * m.expertCount());
        chosen = alloc.apply(4L * rows * k);
        weights = alloc.apply(4L * rows * k);
        hidden = alloc.apply(4L * rows * k * m.expertFeedForwardLength());
        sharedHidden = m.sharedFeedForwardLength() > 0 ? alloc.apply(4L * rows * m.sharedFeedForwardLength()) : null;
        sharedGateInput = new CUdeviceptr[c.blockCount()];
        for (int l = 0; l < sharedGateInput.length; l++) {
            BlockWeights b = model.weights().blocks().get(l);
            sharedGateInput[l] = b.moe() == null ? null : upload.apply(b.moe().sharedGateInput());
        }
    }

    /** Device bytes these buffers take for {@code rows} tokens (before they are allocated). */
    static long estimate(ModelConfig c, int rows) {
        MoeConfig m = c.moe();
        if (m == null) {
            return 0;
        }
        int k = m.expertUsedCount();
        return 4L * rows * (c.embeddingLength() + m.expertCount() + 2L * k + (long) k * m.expertFeedForwardLength()
                + m.sharedFeedForwardLength()) + 4L * c.blockCount() * c.embeddingLength();
    }
}

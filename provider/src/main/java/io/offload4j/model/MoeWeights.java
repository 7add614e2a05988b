package io.offload4j.model;

/**
 * The sparse FFN of one mixture-of-experts block. Each expert is an ordinary SwiGLU FFN whose three matrices are
 * views of the file: a merged 3-D tensor ({@code ffn_gate_exps} … {@code [experts, rows, cols]}) keeps each expert's
 * matrix as contiguous rows in the 2-D formats, so expert {@code e} is a {@link Weight} over its slab; older files
 * (and Hugging Face checkpoints) have one tensor per expert. The shared expert (Qwen2-MoE) is null when absent.
 *
 * @param router           [experts × width]: the router's logits are {@code router · xb}
 * @param gate             per expert, [expert FFN × width]
 * @param up               per expert, [expert FFN × width]
 * @param down             per expert, [width × expert FFN]
 * @param sharedGateInput  [width]: the shared expert's output is scaled by sigmoid(sharedGateInput · xb); or null
 * @param sharedGate       [shared FFN × width], or null
 * @param sharedUp         [shared FFN × width], or null
 * @param sharedDown       [width × shared FFN], or null
 */
public record MoeWeights(Weight router, Weight[] gate, Weight[] up, Weight[] down, float[] sharedGateInput,
                         Weight sharedGate, Weight sharedUp, Weight sharedDown) {

    public int expertCount() {
        return gate.length;
    }

    public boolean hasSharedExpert() {
        return sharedGate != null;
    }

    /** Bytes of expert {@code e}'s three matrices (what an expert cache holds per expert). */
    public long expertBytes(int e) {
        return gate[e].byteSize() + up[e].byteSize() + down[e].byteSize();
    }

    /** Expert {@code e}'s gate, up and down: the unit an expert cache places. */
    public Weight[] expert(int e) {
        return new Weight[] {gate[e], up[e], down[e]};
    }

    /** Bytes of every matrix that is not an expert: the router and the shared expert. */
    public long denseBytes() {
        long n = router.byteSize();
        if (hasSharedExpert()) {
            n += sharedGate.byteSize() + sharedUp.byteSize() + sharedDown.byteSize();
        }
        return n;
    }

    /** The router, the shared expert's three matrices (if any), then each expert's gate, up and down. */
    public Weight[] matrices() {
        int shared = hasSharedExpert() ? 3 : 0;
        Weight[] m = new Weight[1 + shared + 3 * expertCount()];
        int i = 0;
        m[i++] = router;
        if (shared > 0) {
            m[i++] = sharedGate;
            m[i++] = sharedUp;
            m[i++] = sharedDown;
        }
        for (int e = 0; e < expertCount(); e++) {
            m[i++] = gate[e];
            m[i++] = up[e];
            m[i++] = down[e];
        }
        return m;
    }

    public long matrixBytes() {
        long n = denseBytes();
        for (int e = 0; e < expertCount(); e++) {
            n += expertBytes(e);
        }
        return n;
    }
}

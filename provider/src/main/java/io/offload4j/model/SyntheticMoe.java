package io.offload4j.model;

/**
 * The mixture-of-experts part of a synthetic model's shape.
 *
 * @param experts        experts per block
 * @param used           experts per token (k)
 * @param expertFfn      rows of each expert's gate and up matrices
 * @param sharedFfn      rows of the shared expert's (qwen2moe only; 0 = none)
 * @param mergedTensors  the merged 3-D {@code ffn_*_exps} tensors (true, what llama.cpp writes today) or one
 *                       tensor per expert ({@code ffn_gate.E}, older Mixtral files)
 * @param zipfExponent   how skewed the router's choices are: expert popularity in each block follows a Zipf law
 *                       (the r-th most popular expert is picked ∝ 1/r^s) with this exponent; 0 = uniform routing.
 *                       Each block ranks its experts in its own random order.
 */
public record SyntheticMoe(int experts, int used, int expertFfn, int sharedFfn, boolean mergedTensors,
                           double zipfExponent) {

    public SyntheticMoe {
        if (experts < 1 || used < 1 || used > experts || expertFfn < 1 || sharedFfn < 0 || !(zipfExponent >= 0)) {
            throw new IllegalArgumentException("experts " + experts + ", used " + used + ", expert FFN " + expertFfn
                    + ", shared FFN " + sharedFfn + ", Zipf exponent " + zipfExponent
                    + ": need 1 <= used <= experts, positive FFN sizes and a non-negative exponent");
        }
    }

    /**
     * The share of tokens that choose the expert of each popularity rank (index 0 = the most popular), as the writer
     * calibrates its routers: {@code min(1, c / rank^s)}, adding up to {@link #used()}.
     */
    public double[] targetShares() {
        return SyntheticRouter.targetShares(experts, used, zipfExponent);
    }

    public SyntheticMoe withZipfExponent(double s) {
        return new SyntheticMoe(experts, used, expertFfn, sharedFfn, mergedTensors, s);
    }

    public SyntheticMoe withMergedTensors(boolean merged) {
        return new SyntheticMoe(experts, used, expertFfn, sharedFfn, merged, zipfExponent);
    }
}

package io.offload4j.testing;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import java.nio.file.Path;

/**
 * The random-weight F32 llama behind the committed quantization fixtures ({@code src/test/resources/quant/},
 * made by {@code tests/quant/make-reference.sh}): llama-quantize turned this file into the quantized models
 * and tensors there. Width 256 so that every K-quant and IQ4_XS applies; an FFN of 128 so that
 * {@code ffn_down}'s rows are not a multiple of 256 and llama-quantize falls back to a 32-block format for
 * it, as it does for real models whose widths are not (Qwen2.5-0.5B's 896); one block and the smallest
 * vocabulary keep the files small. Tests regenerate it (the writer is deterministic) rather than keep
 * 1.7 MB of F32 weights in git, and check its checksum against the one the fixtures were made from.
 */
public final class QuantFixtureModel {
    private QuantFixtureModel() {}

    public static SyntheticModelSpec spec() {
        return new SyntheticModelSpec("quant-fixture", Architecture.LLAMA, 256, 1, 128, 4, 1, 0, 300, 128,
                QuantPreset.F32, false, 18);
    }

    /** {@code QuantFixtureModel OUT.gguf}: writes the F32 model (used by tests/quant/make-reference.sh). */
    public static void main(String[] args) {
        if (args.length != 1) {
            System.err.println("usage: QuantFixtureModel OUT.gguf");
            System.exit(2);
        }
        SyntheticModelWriter.write(spec(), Path.of(args[0]));
        System.out.println("wrote " + args[0]);
    }
}

package io.offload4j.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Mistral's and Phi-3's {@code sliding_window} becomes every block's sliding window ({@link ModelTraits}); Qwen's
 * stays carried only; and a Phi-3 with LongRoPE and a window turns its sliding blocks with LongRoPE's factors (the
 * sliding blocks' RoPE is the model's own unless Gemma 3 gives them another base).
 */
class SlidingWindowWiringTest {

    @Test
    void llamaAndPhi3WindowsSlideInEveryBlockQwensDoNot() {
        for (Architecture a : Architecture.values()) {
            if (a.isGemma()) {
                continue;
            }
            ModelConfig c = config(a, 8);
            boolean wired = a == Architecture.LLAMA || a == Architecture.PHI3;
            assertEquals(wired, c.traits().hasSlidingWindow(), a.toString());
            assertEquals(wired ? 8 : 0, c.traits().slidingWindow(), a.toString());
            assertEquals(8, c.slidingWindow(), a.toString());
            assertFalse(config(a, 0).traits().hasSlidingWindow(), a.toString());
        }
    }

    @Test
    void phi3LongRopeSlidingBlocksTurnWithLongRopesFactors() throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/hf-phi3-longrope/config.json").toURI()).getParent();
        try (Model m = Model.load(dir)) {
            ModelConfig c = m.config();
            ModelConfig windowed = new ModelConfig(c.name(), c.architecture(), c.embeddingLength(), c.blockCount(),
                    c.feedForwardLength(), c.headCount(), c.headCountKv(), c.headDim(), c.valueHeadDim(),
                    c.rmsNormEps(), c.contextLength(), c.vocabularySize(), c.ropeDimensions(), c.ropeFreqBase(),
                    c.ropeScaling(), c.ropeLayout(), 8, c.moe());
            assertTrue(windowed.traits().sliding(0));
            for (int context : new int[] {8, 64}) { // short factors within 16 positions, long ones beyond
                double[] global = RopeFrequencies.inverse(windowed, m.weights(), context);
                assertArrayEquals(global, RopeFrequencies.inverseSliding(windowed, m.weights(), context), 0.0);
            }
            double[] plain = RopeFrequencies.inverseSliding(windowed, m.weights().ropeFrequencyFactors());
            assertFalse(Arrays.equals(plain, RopeFrequencies.inverse(windowed, m.weights(), 64)),
                    "LongRoPE's factors change the frequencies, so the test can tell them apart");
        }
    }

    private static ModelConfig config(Architecture a, int window) {
        return new ModelConfig("t", a, 64, 4, 128, 4, 2, 16, 16, 1e-6f, 256, 384, 16, 10000f, RopeScaling.NONE,
                RopeLayout.HALVES, window, null);
    }
}

package io.offload4j.model;

import io.offload4j.gguf.GgufWriter;

/**
 * The gemma2/gemma3 keys {@link SyntheticModelWriter} writes, those llama.cpp's converter writes for such a model:
 * the window ({@code attention.sliding_window}; the blocks that slide follow the period
 * {@code attention.sliding_window_pattern}: gemma2 llama.cpp's default 2, gemma3 6, or 2 below six blocks), gemma2's soft caps (50 on attention scores, 30 on the logits, Gemma 2's own values), gemma3's
 * local RoPE base ({@code rope.freq_base_swa}, 10000, next to a global base of 1e6).
 */
final class GemmaMetadata {

    private GemmaMetadata() {}

    static void write(GgufWriter w, SyntheticModelSpec s) {
        String a = s.architecture().ggufName() + ".";
        switch (s.architecture()) {
            case GEMMA2 -> {
                w.putUInt32(a + "attention.sliding_window", s.slidingWindow() > 0 ? s.slidingWindow() : 4096);
                w.putFloat32(a + "attn_logit_softcapping", 50f);
                w.putFloat32(a + "final_logit_softcapping", 30f);
            }
            case GEMMA3 -> {
                if (s.slidingWindow() > 0) {
                    w.putUInt32(a + "attention.sliding_window", s.slidingWindow());
                    // Gemma 3's period of 6 (five local blocks, one global); 2 for models too shallow for one period
                    w.putUInt32(a + "attention.sliding_window_pattern", s.blockCount() >= 6 ? 6 : 2);
                }
                w.putFloat32(a + "rope.freq_base_swa", 10000f);
            }
            default -> { }
        }
    }
}

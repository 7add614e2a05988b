package io.offload4j.model;

import io.offload4j.gguf.GgufArray;
import io.offload4j.gguf.GgufMetadata;
import io.offload4j.gguf.ModelFormatException;
import java.nio.file.Path;

/**
 * Reads a model's {@link ModelTraits} from GGUF metadata, with llama.cpp's keys and defaults: for {@code gemma2} a
 * window of {@code attention.sliding_window} (4096) on every {@code attention.sliding_window_pattern}-th (2) block but
 * the last of each period, {@code attn_logit_softcapping} (50) and {@code final_logit_softcapping} (30); for
 * {@code gemma3} a window only when {@code attention.sliding_window} is there (period 6), no attention cap, the final
 * cap only when given, sliding blocks on {@code rope.freq_base_swa} (10000) without the global RoPE scaling.
 * Gemma's query scale: {@code attention.scale} when given (offload4j writes it for a Hugging Face
 * {@code query_pre_attn_scalar}), else llama.cpp's rule: 1/√(width/heads) for the 27B shapes (gemma2 46 blocks,
 * gemma3 62), 1/√headDim otherwise.
 */
final class ModelTraitsReader {

    private ModelTraitsReader() {}

    static ModelTraits read(Path file, GgufMetadata md, Architecture arch, int dim, int blocks, int heads, int headDim,
                            float ropeBase, RopeScaling scaling) {
        ModelTraits standard = ModelTraits.standard(blocks, headDim, ropeBase, scaling);
        if (!arch.isGemma()) {
            return standard;
        }
        String p = arch.ggufName() + ".";
        boolean gemma2 = arch == Architecture.GEMMA2;
        int window = gemma2 ? 4096 : 0;
        if (md.has(p + "attention.sliding_window")) {
            window = md.getInt(p + "attention.sliding_window");
            if (window < 0) {
                throw new ModelFormatException(file, "metadata key '" + p + "attention.sliding_window' is " + window
                        + "; expected a positive window (or 0 for none)");
            }
        }
        boolean[] sliding = window > 0 ? slidingBlocks(file, md, p + "attention.sliding_window_pattern", blocks,
                gemma2 ? 2 : 6) : new boolean[blocks];
        float attnCap = gemma2 ? md.getFloat(p + "attn_logit_softcapping", 50f) : 0f;
        float finalCap = md.getFloat(p + "final_logit_softcapping", gemma2 ? 30f : 0f);
        if (attnCap < 0 || finalCap < 0) {
            throw new ModelFormatException(file, "metadata: soft caps " + p + "attn_logit_softcapping (" + attnCap
                    + ") and " + p + "final_logit_softcapping (" + finalCap + ") must not be negative");
        }
        int bigBlocks = gemma2 ? 46 : 62;
        float scale = md.has(p + "attention.scale") ? md.getFloat(p + "attention.scale")
                : blocks == bigBlocks ? (float) (1.0 / Math.sqrt((double) (dim / heads)))
                : (float) (1.0 / Math.sqrt(headDim));
        if (!(scale > 0)) {
            throw new ModelFormatException(file, "metadata key '" + p + "attention.scale' is " + scale
                    + "; expected a positive number");
        }
        float localBase = md.getFloat(p + "rope.freq_base_swa", gemma2 ? ropeBase : 10000f);
        RopeScaling localScaling = gemma2 ? scaling : RopeScaling.NONE;
        return new ModelTraits((float) Math.sqrt(dim), scale, attnCap, finalCap, window, sliding, localBase,
                localScaling);
    }

    /**
     * Which blocks slide: a period n (each block but the last of every n), or one boolean per block, as llama.cpp
     * reads {@code sliding_window_pattern}.
     */
    private static boolean[] slidingBlocks(Path file, GgufMetadata md, String key, int blocks, int defaultPeriod) {
        boolean[] sliding = new boolean[blocks];
        if (md.has(key) && md.get(key) instanceof GgufArray a) {
            if (!(a.values() instanceof boolean[] flags) || flags.length != blocks) {
                throw new ModelFormatException(file, "metadata key '" + key + "' is an " + a + "; expected a period"
                        + " (an integer) or one BOOL per block (" + blocks + ")");
            }
            return flags.clone();
        }
        int period = md.has(key) ? md.getInt(key) : defaultPeriod;
        if (period < 0) {
            throw new ModelFormatException(file, "metadata key '" + key + "' is " + period
                    + "; expected a period of at least 1 (or 0: every block slides)");
        }
        for (int i = 0; i < blocks; i++) {
            sliding[i] = period == 0 || i % period < period - 1;
        }
        return sliding;
    }
}

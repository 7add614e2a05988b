package io.offload4j.engine;

import io.offload4j.backend.Backend;
import io.offload4j.backend.ForwardPass;
import io.offload4j.engine.speculative.DraftModel;
import io.offload4j.engine.speculative.DrafterFactory;
import io.offload4j.engine.speculative.PromptLookupDrafter;
import io.offload4j.engine.speculative.SpeculativeOptions;
import io.offload4j.model.Model;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.TieredForwardPass;
import io.offload4j.offload.TieredPasses;
import io.offload4j.tokenizer.Tokenizer;
import io.offload4j.tokenizer.Tokenizers;
import java.nio.file.Path;

/** Turns {@link SpeculativeOptions} into the engine's drafter factory, loading and preparing a draft model. */
final class SpeculativeSetup {

    private static final System.Logger LOG = System.getLogger("io.offload4j.engine");

    private SpeculativeSetup() {}

    /**
     * The drafter factory the options ask for, or null when speculative decoding is off. A draft model is loaded,
     * checked against the target's vocabulary and prepared on {@code backend}: on the CPU like the target, on a GPU
     * wholly resident (call this before preparing the target, whose automatic budget then takes what is left).
     */
    static DrafterFactory drafters(SpeculativeOptions options, Backend backend, Path targetPath, Tokenizer target,
                                   int contextLength, int chunkTokens) {
        if (!options.enabled()) {
            return null;
        }
        if (options.drafter() != null) {
            return options.drafter();
        }
        if (options.promptLookup()) {
            return new PromptLookupDrafter(options.minNgram(), options.maxNgram());
        }
        Path path = options.draftModel();
        Model model = ModelFiles.load(path);
        ForwardPass pass = null;
        try {
            Tokenizer draft = Tokenizers.fromGguf(ModelFiles.tokenizerMetadata(model));
            DraftModel.checkVocabulary(target, targetPath, draft, path);
            if (model.config().vocabularySize() != target.vocabularySize()) {
                throw new IllegalArgumentException("the draft model " + path + " has " + model.config().vocabularySize()
                        + " embedding rows, its tokenizer " + draft.vocabularySize() + " tokens");
            }
            pass = TieredPasses.prepare(backend, model, contextLength, chunkTokens, OffloadOptions.DEFAULTS);
            if (pass instanceof TieredForwardPass tiered && !tiered.plan().allResident()) {
                throw new IllegalArgumentException("the draft model " + path + " does not fit the GPU's free memory ("
                        + tiered.plan() + "); a draft model must be small next to the model: choose a smaller one,"
                        + " or free GPU memory");
            }
            LOG.log(System.Logger.Level.INFO, "speculative decoding with the draft model " + path + " on "
                    + backend.description());
            return new DraftModel(pass, model, path.toString());
        } catch (RuntimeException | Error e) {
            if (pass != null) {
                pass.close();
            }
            model.close();
            throw e;
        }
    }
}

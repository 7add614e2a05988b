package io.offload4j.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** The shared description of a block takes each architecture's optional steps exactly where it has their weights. */
class BlockRecipeTest {

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(Architecture.class)
    void optionalStepsFollowTheWeights(Architecture arch) {
        Path file = dir.resolve(arch + ".gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(arch, QuantPreset.F32), file);
        try (Model model = Model.load(file)) {
            List<BlockRecipe> steps = BlockRecipe.of(model.weights().blocks().getFirst());
            assertEquals(arch.hasQkvBias(), steps.contains(BlockRecipe.QKV_BIAS), steps.toString());
            assertEquals(arch.hasQkNorm(), steps.contains(BlockRecipe.QK_NORM), steps.toString());
            assertEquals(arch.isGemma(), steps.contains(BlockRecipe.ATTENTION_POST_NORM), steps.toString());
            assertEquals(arch.isGemma(), steps.contains(BlockRecipe.GATE_UP_GEGLU), steps.toString());
            assertEquals(!arch.isGemma() && !arch.isMixtureOfExperts(), steps.contains(BlockRecipe.GATE_UP_SWIGLU),
                    steps.toString());
            assertEquals(BlockRecipe.ATTENTION_NORM, steps.getFirst());
            BlockRecipe last = arch == Architecture.QWEN2MOE ? BlockRecipe.MOE_SHARED_EXPERT
                    : arch.isMixtureOfExperts() ? BlockRecipe.MOE_EXPERTS
                    : arch.isGemma() ? BlockRecipe.FFN_POST_NORM : BlockRecipe.DOWN_PROJECTION;
            assertEquals(last, steps.getLast());
            assertEquals(arch.isMixtureOfExperts(), steps.contains(BlockRecipe.MOE_ROUTER), steps.toString());
            assertEquals(steps.size(), steps.stream().distinct().count());
        }
    }
}

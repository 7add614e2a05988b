package io.offload4j.spring.boot;

import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.speculative.SpeculativeOptions;
import io.offload4j.model.LoadQuantization;
import io.offload4j.model.Quantization;
import io.offload4j.offload.OffloadOptions;
import java.nio.file.Path;

/** Turns the bound {@link OffloadProperties} into the engine's {@link EngineOptions}. */
final class EngineOptionsMapper {

    private EngineOptionsMapper() {}

    /** The engine options the properties describe; {@code auto} budgets become the engine's AUTO values. */
    static EngineOptions toEngineOptions(OffloadProperties p) {
        OffloadProperties.Gpu gpu = p.getGpu();
        OffloadOptions offload = OffloadOptions.DEFAULTS
                .withGpuMemoryBudget(gpu.getMemoryBudget().bytes())
                .withHostPinnedMemoryBudget(p.getHost().getPinnedMemoryBudget().bytes())
                .withPrefetchDepth(gpu.getPrefetchDepth())
                .withPlacement(gpu.getPlacement().engineName())
                .withMaxBatchRows(gpu.getMaxBatchRows())
                .withGemmMinTokens(gpu.getGemmMinTokens())
                .withGraphs(gpu.isGraphs())
                .withExpertCache(gpu.isExpertCache())
                .withExpertPrefetch(gpu.isExpertPrefetch());
        return EngineOptions.DEFAULTS
                .withDevice(p.getDevice())
                .withThreads(p.getThreads())
                .withContextLength(p.getContextLength())
                .withContextBeyondTraining(p.isContextBeyondTraining())
                .withQuantization(new LoadQuantization(Quantization.parse(p.getQuantization(),
                        OffloadProperties.PREFIX + ".quantization"), p.getQuantizationCache() == null
                        || p.getQuantizationCache().isBlank() ? null : Path.of(p.getQuantizationCache())))
                .withMaxSequences(p.getMaxSequences())
                .withPrefixCacheBytes(p.getPrefixCache().bytes())
                .withOffload(offload)
                .withSpeculative(SpeculativeOptions.OFF.withPromptLookup(p.getSpeculative().isPromptLookup())
                        .withDraftModel(p.getSpeculative().getDraftModel())
                        .withMaxDraftTokens(p.getSpeculative().getMaxDraftTokens()));
    }
}

package io.offload4j.spring.boot;

import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.offload.OffloadStats;
import io.offload4j.spring.boot.diagnostics.OffloadStartupException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Loads the engine the properties describe, logging what it does: where the model is, how long loading took,
 * the device, and the memory breakdown and weight placement the engine reports. Loading a model takes seconds to
 * minutes and decides how much memory the application holds, so this is what an operator reads first.
 */
public class OffloadEngineLoader {

    private static final Logger LOG = LoggerFactory.getLogger(OffloadEngineLoader.class);

    private final OffloadProperties properties;
    private final EngineOptions options;

    public OffloadEngineLoader(OffloadProperties properties) {
        this.properties = properties;
        this.options = EngineOptionsMapper.toEngineOptions(properties);
    }

    /** The engine options the properties map to. */
    public EngineOptions options() {
        return options;
    }

    /** The model spec being loaded ({@code langchain4j.offload.model}). */
    public String modelSpec() {
        return properties.getModel();
    }

    /**
     * Resolves the model and loads a new engine; the caller closes it.
     *
     * @throws OffloadStartupException naming the property and its value, with what to do, when the model cannot
     *                                 be fetched or loaded
     */
    public OffloadEngine load() {
        String spec = properties.getModel();
        Path path;
        try {
            path = ModelLocations.resolve(spec, properties.getCacheDir());
        } catch (IllegalStateException e) {
            throw ModelLoadFailures.hubUnreachable(spec, e);
        }
        if (!Files.exists(path)) {
            throw ModelLoadFailures.missing(spec, path);
        }
        StartupWarnings.vectorModule(StartupWarnings.vectorModulePresent()).ifPresent(LOG::warn);
        LOG.info("offload4j: loading {} ({}) on device {} (context {}, {} sequences, prefix cache {}, GPU budget {},"
                        + " pinned host budget {}, prefetch depth {}, placement {})",
                path.toAbsolutePath(), size(path), options.device(),
                options.contextLength() == 0 ? "model's, at most " + EngineOptions.DEFAULT_MAX_CONTEXT
                        : options.contextLength(),
                options.maxSequences() == EngineOptions.AUTO_SEQUENCES ? "auto" : options.maxSequences(),
                properties.getPrefixCache(), properties.getGpu().getMemoryBudget(),
                properties.getHost().getPinnedMemoryBudget(), options.offload().prefetchDepth(),
                options.offload().placement());
        long start = System.nanoTime();
        OffloadEngine engine;
        try {
            engine = OffloadEngine.builder().modelPath(path).options(options).build();
        } catch (RuntimeException e) {
            throw ModelLoadFailures.loadFailed(spec, path, properties.getDevice(), e); // as the user wrote it
        }
        long millis = (System.nanoTime() - start) / 1_000_000;
        InferenceEngine e = engine.inferenceEngine();
        if (DeviceKind.isGpu(e)) {
            OffloadStats s = e.offloadStats();
            LOG.info("offload4j: loaded {} in {} ms on {} (context {} tokens); blocks: {} resident, {} streamed, {}"
                            + " on the CPU; {} bytes of weights on the GPU, {} bytes pinned on the host",
                    engine.modelName(), millis, e.deviceDescription(), e.contextLength(), s.residentBlocks(),
                    s.streamedBlocks(), s.cpuBlocks(), s.gpuBytesResident(), s.hostPinnedBytes());
        } else {
            LOG.info("offload4j: loaded {} in {} ms on {} (context {} tokens)", engine.modelName(), millis,
                    e.deviceDescription(), e.contextLength());
        }
        LOG.info("offload4j: memory of {}: {}", engine.modelName(), e.memoryReport());
        StartupWarnings.contextBeyondTraining(options.contextLength(), e.config().contextLength(), engine.modelName())
                .ifPresent(LOG::warn);
        return engine;
    }

    private static String size(Path path) {
        try {
            return Files.isRegularFile(path) ? String.format("%.1f MiB", Files.size(path) / 1048576.0) : "directory";
        } catch (IOException e) {
            return "size unknown";
        }
    }
}

package io.offload4j.spring.boot;

import io.offload4j.engine.EngineStats;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.offload.OffloadStats;
import io.offload4j.spring.boot.health.OffloadHealthReport;
import io.offload4j.spring.boot.health.OffloadHealthReporter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * The engine's health, whatever Spring Boot line shows it: whether the model is loaded, where it runs, the memory
 * it holds and where its weights are. UP once loaded, and also before a lazy load (the application can still
 * serve: the first request loads the model); DOWN when the last load failed, with the reason. Weight placement
 * and GPU-cache figures are given only on a GPU device, where they mean something.
 */
public class OffloadHealth implements OffloadHealthReporter {

    private final OffloadEngineHolder holder;
    private final String modelSpec;

    public OffloadHealth(OffloadEngineHolder holder, String modelSpec) {
        this.holder = holder;
        this.modelSpec = modelSpec;
    }

    @Override
    public OffloadHealthReport report() {
        Optional<OffloadEngine> loaded = holder.ifLoaded();
        if (loaded.isEmpty()) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("loaded", false);
            d.put("model", modelSpec);
            Optional<RuntimeException> failure = holder.lastFailure();
            if (failure.isPresent()) {
                return new OffloadHealthReport(false, failure.get(), d);
            }
            d.put("note", "the model loads on the first request");
            return new OffloadHealthReport(true, null, d);
        }
        OffloadEngine engine = loaded.get();
        InferenceEngine e = engine.inferenceEngine();
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("loaded", true);
        d.put("model", engine.modelName());
        d.put("source", modelSpec);
        d.put("device", e.deviceDescription());
        d.put("contextLength", e.contextLength());
        d.put("memory", e.memoryReport());
        if (DeviceKind.isGpu(e)) {
            d.put("placement", placement(e.offloadStats()));
        }
        d.put("requests", requests(e.stats()));
        return new OffloadHealthReport(true, null, d);
    }

    private static Map<String, Object> placement(OffloadStats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("residentBlocks", s.residentBlocks());
        m.put("streamedBlocks", s.streamedBlocks());
        m.put("cpuBlocks", s.cpuBlocks());
        m.put("gpuBytesResident", s.gpuBytesResident());
        m.put("stagingBytes", s.stagingBytes());
        m.put("hostPinnedBytes", s.hostPinnedBytes());
        m.put("gpuCacheHitRate", s.hitRate());
        m.put("bytesStreamed", s.bytesStreamed());
        m.put("streamedGigabytesPerSecond", s.streamedGigabytesPerSecond());
        if (s.experts() != null) {
            m.put("expertCacheHitRate", s.experts().hitRate());
            m.put("expertSlots", s.experts().slots());
        }
        return m;
    }

    private static Map<String, Object> requests(EngineStats s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("queued", s.queued());
        m.put("running", s.running());
        m.put("completed", s.completed());
        m.put("prefixCacheEntries", s.prefixCacheEntries());
        m.put("prefixCacheBytes", s.prefixCacheBytes());
        return m;
    }
}

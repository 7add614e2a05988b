package io.offload4j.spring.boot;

import io.offload4j.engine.EngineStats;
import io.offload4j.engine.InferenceEngine;
import io.offload4j.langchain4j.OffloadEngine;
import io.offload4j.offload.OffloadStats;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import org.springframework.boot.health.contributor.Health;
import org.springframework.boot.health.contributor.HealthIndicator;

/**
 * The {@code offload} health contributor: whether the model is loaded, where it runs, the memory it holds and
 * where its weights are. UP once loaded, and also before a lazy load (the application can still serve: the first
 * request loads the model); DOWN when the last load failed, with the reason.
 */
public class OffloadHealthIndicator implements HealthIndicator {

    private final OffloadEngineHolder holder;
    private final String modelSpec;

    public OffloadHealthIndicator(OffloadEngineHolder holder, String modelSpec) {
        this.holder = holder;
        this.modelSpec = modelSpec;
    }

    @Override
    public Health health() {
        Optional<OffloadEngine> loaded = holder.ifLoaded();
        if (loaded.isEmpty()) {
            Optional<RuntimeException> failure = holder.lastFailure();
            if (failure.isPresent()) {
                return Health.down(failure.get()).withDetail("loaded", false).withDetail("model", modelSpec).build();
            }
            return Health.up().withDetail("loaded", false).withDetail("model", modelSpec)
                    .withDetail("note", "the model loads on the first request").build();
        }
        OffloadEngine engine = loaded.get();
        InferenceEngine e = engine.inferenceEngine();
        EngineStats stats = e.stats();
        return Health.up()
                .withDetail("loaded", true)
                .withDetail("model", engine.modelName())
                .withDetail("source", modelSpec)
                .withDetail("device", e.deviceDescription())
                .withDetail("contextLength", e.contextLength())
                .withDetail("memory", e.memoryReport())
                .withDetail("placement", placement(e.offloadStats()))
                .withDetail("requests", requests(stats))
                .build();
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

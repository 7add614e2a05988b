package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.model.Model;
import io.offload4j.model.ModelConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The memory plan counts a sliding block's ring, not the whole context, and never less than a cache really takes. */
class GemmaMemoryPlanTest {

    @Test
    void ringsAreCountedAndBoundTheRealCache() throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/hf-gemma3/config.json").toURI()).getParent();
        try (Model model = Model.load(dir)) {
            ModelConfig c = model.config();
            int context = 1024;
            long full = MemoryPlan.bytesPerPosition(c) * (context + MemoryPlan.PADDING_POSITIONS);
            long planned = MemoryPlan.sequenceBytes(c, context, 16);
            long perRow = MemoryPlan.bytesPerPosition(c) / c.blockCount();
            // 2 global blocks of 1024 + 64 rows, 2 sliding ones of 2 × (8 + 64) + 64
            assertEquals(perRow * (2 * (1024 + 64) + 2 * (144 + 64)), planned);
            assertTrue(planned < full);
            for (int chunk : new int[] {16, 64, 128}) {
                try (CpuBackend cpu = new CpuBackend(1);
                     ForwardPass pass = cpu.prepare(model, context, chunk);
                     KvCache cache = pass.newKvCache(context)) {
                    assertTrue(cache.byteSize() <= MemoryPlan.sequenceBytes(c, context, chunk),
                            "chunk " + chunk + ": " + cache.byteSize() + " > planned");
                }
            }
        }
    }
}

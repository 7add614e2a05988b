package io.offload4j.offload;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.offload4j.backend.KvCache;
import org.junit.jupiter.api.Test;

/**
 * A pipeline's cache may be rewound only as far as its most limited stage allows: a stage whose blocks include
 * sliding-window ones keeps a ring (Gemma, Mistral), and the prefix cache and speculative decoding rely on
 * {@link KvCache#maxRewind()} to stay within it.
 */
class PipelineKvCacheRewindTest {

    @Test
    void rewindIsTheSmallestOfTheStages() {
        KvCache full = stage(Integer.MAX_VALUE);
        KvCache ring = stage(16);
        assertEquals(16, new PipelineForwardPass.PipelineKvCache(null, new KvCache[] {full, ring}).maxRewind());
        assertEquals(16, new PipelineForwardPass.PipelineKvCache(null, new KvCache[] {ring, full}).maxRewind());
        assertEquals(Integer.MAX_VALUE,
                new PipelineForwardPass.PipelineKvCache(null, new KvCache[] {full, full}).maxRewind());
    }

    private static KvCache stage(int rewind) {
        return new KvCache() {
            @Override
            public int capacity() {
                return 256;
            }

            @Override
            public int maxRewind() {
                return rewind;
            }

            @Override
            public long byteSize() {
                return 0;
            }

            @Override
            public void close() {}
        };
    }
}

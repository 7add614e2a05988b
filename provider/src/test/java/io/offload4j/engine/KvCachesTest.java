package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.model.Architecture;
import io.offload4j.model.Model;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import io.offload4j.model.SyntheticModelWriter;
import io.offload4j.testing.MixedStepCheck;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link KvCaches#fitted}: a kept cache large enough is used as it is; a smaller one is copied into a cache of the
 * needed size, whose next logits are those of the kept cache; one that cannot be copied from (a gemma2 ring in the
 * larger cache, every position in the smaller) gives a fresh larger cache with nothing reused.
 */
class KvCachesTest {

    @TempDir
    Path dir;

    @Test
    void aKeptCacheIsUsedGrownByCopyOrReplaced() {
        Path llama = dir.resolve("llama.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tiny(Architecture.LLAMA, QuantPreset.F32), llama);
        try (Model m = Model.load(llama); ForwardPass pass = new CpuBackend(1).prepare(m, 64, 4)) {
            assertNull(KvCaches.fitted(null, 32, pass));
            KvCache big = pass.newKvCache(40);
            PrefixCache.Reuse asIs = new PrefixCache.Reuse(big, 5);
            assertSame(asIs, KvCaches.fitted(asIs, 32, pass), "large enough: used as it is");

            int vocab = m.config().vocabularySize();
            int[] tokens = new SplittableRandom(3).ints(13, 3, vocab).toArray();
            float[] kept = new float[vocab];
            float[] grown = new float[vocab];
            KvCache small = pass.newKvCache(13);
            for (int p = 0; p < 12; p += 4) {
                pass.forward(small, tokens, p, 4, p, kept);
            }
            PrefixCache.Reuse fitted = KvCaches.fitted(new PrefixCache.Reuse(small, 12), 40, pass);
            assertNotSame(small, fitted.cache());
            assertEquals(40, fitted.cache().capacity());
            assertEquals(12, fitted.length());
            pass.forward(small, tokens, 12, 1, 12, kept);
            pass.forward(fitted.cache(), tokens, 12, 1, 12, grown);
            assertTrue(MixedStepCheck.relativeDifference(grown, kept) < 1e-6, "the copied positions are the kept ones");
            fitted.cache().close();
        }

        Path gemma = dir.resolve("gemma2.gguf");
        SyntheticModelWriter.write(SyntheticModelSpec.tinyGemma(Architecture.GEMMA2, QuantPreset.F32, 5), gemma);
        try (Model m = Model.load(gemma); ForwardPass pass = new CpuBackend(1).prepare(m, 64, 4)) {
            KvCache small = pass.newKvCache(12); // every position: a ring of 5 + 4 rows takes more than half of 12
            KvCache larger = pass.newKvCache(40);
            assertTrue(!larger.canCopyPrefix(small), "the layouts differ");
            PrefixCache.Reuse fresh = KvCaches.fitted(new PrefixCache.Reuse(small, 8), 40, pass);
            assertEquals(0, fresh.length(), "nothing reused: the prompt is computed afresh");
            assertEquals(40, fresh.cache().capacity());
            fresh.cache().close();
            larger.close();
        }
    }
}

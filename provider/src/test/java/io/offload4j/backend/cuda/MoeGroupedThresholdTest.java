package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.model.Architecture;
import io.offload4j.model.QuantPreset;
import io.offload4j.model.SyntheticModelSpec;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Which steps take the grouped expert kernels, and the bound on their work list, without a GPU. The MoE GPU tests
 * rely on these numbers: their 40- and 20-token chunks on the tiny MoE (8 experts, 2 chosen) group, their 12-token
 * prompts, decode steps and batches of 3 and 5 do not, so both paths run there.
 */
class MoeGroupedThresholdTest {

    @Test
    void decodeStepsKeepThePerSlotKernels() {
        // Qwen3-30B-A3B: 128 experts, 8 chosen: 32 tokens fill each expert twice on average
        assertFalse(CudaMoeBuffers.grouped(1, 8, 128));
        assertFalse(CudaMoeBuffers.grouped(16, 8, 128));
        assertFalse(CudaMoeBuffers.grouped(31, 8, 128));
        assertTrue(CudaMoeBuffers.grouped(32, 8, 128));
        assertTrue(CudaMoeBuffers.grouped(512, 8, 128));
        // Mixtral: 8 experts, 2 chosen: the token floor decides
        assertFalse(CudaMoeBuffers.grouped(8, 2, 8));
        assertFalse(CudaMoeBuffers.grouped(15, 2, 8));
        assertTrue(CudaMoeBuffers.grouped(16, 2, 8));
    }

    @Test
    void theMoeGpuTestsRunBothPaths() {
        io.offload4j.model.SyntheticMoe m = SyntheticModelSpec.tinyMoe(Architecture.QWEN3MOE, QuantPreset.Q8_0, 0.8)
                .moe();
        int k = m.used();
        int e = m.experts();
        for (int chunk : new int[] {20, 40}) { // MoeOffloadGpuTest's and MoeGpuTest's chunks
            assertTrue(CudaMoeBuffers.grouped(chunk, k, e), chunk + " tokens");
        }
        for (int step : new int[] {1, 3, 5, 12}) { // decode, batches, MoeGpuTest's first prompt
            assertFalse(CudaMoeBuffers.grouped(step, k, e), step + " tokens");
        }
    }

    @Test
    void aWorkListTooTallForOneGridDimensionIsNotGrouped() {
        assertTrue(CudaMoeBuffers.grouped(4096, 8, 128));
        assertTrue(CudaMoeBuffers.grouped(65000, 8, 128)); // 65000 tiles + 128 fit
        assertFalse(CudaMoeBuffers.grouped(65536, 8, 128)); // 65536 tiles + 128 > 65535
    }

    /**
     * The bound holds for any routing: the tiles of a stable grouping (⌈slots of id / tile⌉ per id) never exceed
     * moeMaxItems for the number of distinct ids, whatever the skew.
     */
    @Test
    void theTileBoundHolds() {
        SplittableRandom rnd = new SplittableRandom(13);
        for (int trial = 0; trial < 2000; trial++) {
            int ids = 1 + rnd.nextInt(200);
            int slots = rnd.nextInt(5000);
            int[] per = new int[ids];
            double skew = rnd.nextDouble() * 3;
            for (int s = 0; s < slots; s++) {
                int e = (int) Math.min(ids - 1, Math.floor(Math.pow(rnd.nextDouble(), 1 + skew) * ids));
                per[e]++;
            }
            int tiles = 0;
            int distinct = 0;
            for (int n : per) {
                tiles += (n + CudaKernels.MOE_TILE - 1) / CudaKernels.MOE_TILE;
                distinct += n > 0 ? 1 : 0;
            }
            assertTrue(tiles <= CudaKernels.moeMaxItems(slots, distinct), tiles + " tiles of " + slots + " slots");
        }
        assertEquals(64 + 128, CudaKernels.moeMaxItems(512, 128));
        assertEquals(0, CudaKernels.moeMaxItems(0, 128));
    }
}

package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
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
     * The bound holds for any routing and both tilings (fp32 kernels: 8 slots, tensor cores: 64): the tiles of a
     * stable grouping (⌈slots of id / tile⌉ per id) never exceed CudaMoeKernels.maxItems for the number of distinct ids, whatever
     * the skew; and the work list sized for the finer tiling has room for the coarser one.
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
            for (int tile : new int[] {CudaMoeKernels.TILE, CudaMoeKernels.TC_TILE}) {
                int tiles = 0;
                int distinct = 0;
                for (int n : per) {
                    tiles += (n + tile - 1) / tile;
                    distinct += n > 0 ? 1 : 0;
                }
                assertTrue(tiles <= CudaMoeKernels.maxItems(slots, distinct, tile),
                        tiles + " tiles of " + tile + " for " + slots + " slots");
                assertTrue(CudaMoeKernels.maxItems(slots, ids, tile) <= CudaMoeBuffers.maxItems(slots, ids));
            }
        }
        assertEquals(64 + 128, CudaMoeKernels.maxItems(512, 128, CudaMoeKernels.TILE));
        assertEquals(64 + 128, CudaMoeKernels.maxItems(4096, 128, CudaMoeKernels.TC_TILE));
        assertEquals(0, CudaMoeKernels.maxItems(0, 128, CudaMoeKernels.TILE));
    }

    /**
     * Which experts take the tensor-core kernels: the small GEMM's formats but F32, features in 64s and K in 256s in
     * both directions (Qwen3-30B-A3B's 2048 x 768 and Mixtral's 4096 x 14336 do; Qwen1.5-MoE's 1408 does not).
     */
    @Test
    void tensorCoreExperts() {
        assertTrue(CudaMoeKernels.tensorCoresOk(GgmlType.Q4_K, GgmlType.Q6_K, 2048, 768));
        assertTrue(CudaMoeKernels.tensorCoresOk(GgmlType.Q8_0, GgmlType.Q8_0, 4096, 14336));
        assertTrue(CudaMoeKernels.tensorCoresOk(GgmlType.F16, GgmlType.BF16, 256, 256));
        assertFalse(CudaMoeKernels.tensorCoresOk(GgmlType.Q4_K, GgmlType.Q6_K, 2048, 1408));
        assertFalse(CudaMoeKernels.tensorCoresOk(GgmlType.F32, GgmlType.F16, 256, 256));
        assertFalse(CudaMoeKernels.tensorCoresOk(GgmlType.Q4_K, GgmlType.F32, 256, 256));
        assertFalse(CudaMoeKernels.tensorCoresOk(GgmlType.Q4_K, GgmlType.Q4_K, 64, 32)); // the transformers fixtures
        assertFalse(CudaMoeKernels.tensorCoresOk(GgmlType.Q3_K, GgmlType.Q3_K, 256, 256)); // no expert kernels at all
    }
}

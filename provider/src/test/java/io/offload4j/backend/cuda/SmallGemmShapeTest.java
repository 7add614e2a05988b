package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import org.junit.jupiter.api.Test;

/**
 * Which matrices the small-batch GEMM takes and how it splits K, without a GPU: the splits must cover K in whole
 * chunks, stay within the partial buffer the workspace allocates, and only split when the tiles alone are too few.
 */
class SmallGemmShapeTest {

    private static final int TARGET = CudaKernels.SMALL_GEMM_TARGET_BLOCKS;

    @Test
    void splitsCoverKInWholeChunksWithinThePartialBuffer() {
        long partialTiles = CudaKernels.smallGemmPartialFloats(TARGET)
                / (CudaKernels.SMALL_GEMM_MAX_ROWS * CudaKernels.SMALL_GEMM_N);
        for (int tiles = 1; tiles <= 2 * TARGET; tiles++) {
            for (int chunks = 1; chunks <= 64; chunks++) {
                int k = chunks * CudaKernels.SMALL_GEMM_K;
                int splits = CudaKernels.smallGemmSplits(tiles, k, TARGET);
                assertTrue(splits >= 1 && splits <= chunks, tiles + " tiles, " + chunks + " chunks: " + splits);
                int perSplit = (chunks + splits - 1) / splits;
                // the kernel's grid: every split has at least one chunk, and together they cover K
                assertEquals(splits, (chunks + perSplit - 1) / perSplit);
                assertTrue((splits - 1) * perSplit < chunks);
                if (splits > 1) {
                    assertTrue((long) tiles * splits <= partialTiles, tiles + " x " + splits + " partial tiles");
                }
                if (tiles >= TARGET) {
                    assertEquals(1, splits, "enough tiles: no split");
                }
            }
        }
    }

    @Test
    void aLlama3bShapedStepFillsTheGpu() {
        // K and V (1,024 rows each) with Q (3,072) in one launch over 3,072 columns: 80 tiles x 6 splits of 2 chunks
        assertEquals(6, CudaKernels.smallGemmSplits(80, 3072, TARGET));
        // the FFN's down projection: 48 tiles over 8,192 columns, 11 splits of 3 chunks
        assertEquals(11, CudaKernels.smallGemmSplits(48, 8192, TARGET));
        // the output head (128,256 rows): no split
        assertEquals(1, CudaKernels.smallGemmSplits(128256 / 64, 3072, TARGET));
    }

    @Test
    void shapesAndFormats() {
        assertTrue(CudaKernels.smallGemmOk(GgmlType.Q4_K, 1024, 3072));
        assertTrue(CudaKernels.smallGemmOk(GgmlType.F16, 64, 256));
        assertFalse(CudaKernels.smallGemmOk(GgmlType.F32, 1024, 3072), "F32 weights keep the older path");
        assertFalse(CudaKernels.smallGemmOk(GgmlType.Q8_0, 96, 3072), "rows not a multiple of 64");
        assertFalse(CudaKernels.smallGemmOk(GgmlType.Q8_0, 1024, 288), "columns not a multiple of 256");
        assertEquals(16, CudaKernels.smallGemmRowsRead(1));
        assertEquals(32, CudaKernels.smallGemmRowsRead(17));
        assertEquals(64, CudaKernels.smallGemmRowsRead(33));
    }
}

package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The prefill GEMM's launch shape (gemm_prefill.cuh), without a GPU. */
class PrefillGemmShapeTest {

    private static final int H100_SMS = 132;

    @Test
    void blockRowsFollowWhetherTheLargeTilesFillHalfTheGpu() {
        // a 512-token chunk of a 3B model: 3072-wide projections make 24 x 4 = 96 tiles of 128 rows (>= 66)
        assertEquals(128, CudaKernels.gemmBlockRows(512, 3072, H100_SMS));
        // its K/V projections (1024 wide): 8 x 4 = 32 tiles of 128, so 64-row blocks (64 of them)
        assertEquals(64, CudaKernels.gemmBlockRows(512, 1024, H100_SMS));
        assertEquals(128, CudaKernels.gemmBlockRows(2048, 1024, H100_SMS));
        // gate/up (8192 wide): 256 tiles; an 8B model's 4096-wide projections: 128
        assertEquals(128, CudaKernels.gemmBlockRows(512, 8192, H100_SMS));
        assertEquals(128, CudaKernels.gemmBlockRows(512, 4096, H100_SMS));
        // the boundary: 66 tiles take 128 rows, 65 take 64; a partial last tile of rows counts as a tile
        assertEquals(128, CudaKernels.gemmBlockRows(129, 128 * 33, H100_SMS));
        assertEquals(64, CudaKernels.gemmBlockRows(128, 128 * 65, H100_SMS));
        // short chunks
        assertEquals(64, CudaKernels.gemmBlockRows(100, 3072, H100_SMS));
        // no int overflow for the widest heads
        assertEquals(128, CudaKernels.gemmBlockRows(1 << 20, 1 << 20, H100_SMS));
    }

    @Test
    void sharedMemoryFitsEverySupportedGpu() {
        // four stages of (rows + 128) rows of 40 halves
        assertEquals(4 * (64 + 128) * 80, CudaKernels.gemmSharedBytes(64));
        assertEquals(4 * (128 + 128) * 80, CudaKernels.gemmSharedBytes(128));
        // the smallest per-block opt-in limit of the fatbin's architectures: 99 KB on sm_86 / sm_89
        assertTrue(CudaKernels.gemmSharedBytes(128) <= 99 * 1024);
    }

    @Test
    void smallGemmSharedMemoryFitsEverySupportedGpu() {
        // 64 weight rows and the tile's 16 / 32 / 64 activation rows, each 264 halves (SG_SMEM in gemm_small.cuh)
        assertEquals((64 + 16) * 264 * 2, CudaKernels.smallGemmSharedBytes(CudaKernels.smallGemmRowsRead(5)));
        assertEquals((64 + 32) * 264 * 2, CudaKernels.smallGemmSharedBytes(CudaKernels.smallGemmRowsRead(17)));
        assertEquals((64 + 64) * 264 * 2, CudaKernels.smallGemmSharedBytes(CudaKernels.smallGemmRowsRead(64)));
        // two blocks per SM (its launch bounds) within the 99 KB a block may opt into on sm_86 / sm_89 ...
        assertTrue(CudaKernels.smallGemmSharedBytes(CudaKernels.SMALL_GEMM_MAX_ROWS) <= 99 * 1024);
        // ... and within an sm_86 SM's 100 KB for the 16-row tiles of small batches
        assertTrue(2 * CudaKernels.smallGemmSharedBytes(16) <= 100 * 1024);
    }
}

package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The prefill GEMM's launch shape (gemm_prefill.cuh), without a GPU. */
class PrefillGemmShapeTest {

    private static final int H100_SMS = 132;

    @Test
    void blockRowsFollowWhetherTheLargeTilesFillTheGpu() {
        // a 512-token chunk of a 3B model: 3072-wide projections make 24 x 4 = 96 tiles of 128 rows (< 132 SMs)
        assertEquals(64, CudaKernels.gemmBlockRows(512, 3072, H100_SMS));
        assertEquals(64, CudaKernels.gemmBlockRows(512, 1024, H100_SMS));
        // gate/up (8192 wide): 64 x 4 = 256 tiles
        assertEquals(128, CudaKernels.gemmBlockRows(512, 8192, H100_SMS));
        // an 8B model's 4096-wide projections: 32 x 4 = 128 tiles, still four SMs short
        assertEquals(64, CudaKernels.gemmBlockRows(512, 4096, H100_SMS));
        assertEquals(128, CudaKernels.gemmBlockRows(1024, 4096, H100_SMS));
        // a partial last tile of rows counts as a tile
        assertEquals(128, CudaKernels.gemmBlockRows(129, 128 * 66, H100_SMS));
        assertEquals(64, CudaKernels.gemmBlockRows(128, 128 * 131, H100_SMS));
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
}

package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import org.junit.jupiter.api.Test;

/** Which rows the 8-bit-activation kernels take (no GPU needed): the choice CudaBlockKernels makes per projection. */
class CudaInt8KernelsTest {

    @Test
    void theSixFormatsWithKernelsFitWholeBlocksOf32() {
        for (GgmlType t : new GgmlType[] {GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q5_K,
                GgmlType.Q6_K}) {
            assertTrue(CudaInt8Kernels.hasKernel(t), t.name());
            assertTrue(CudaInt8Kernels.fits(t, 4096), t.name());
        }
        for (GgmlType t : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q5_0, GgmlType.Q5_1,
                GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS}) {
            assertFalse(CudaInt8Kernels.hasKernel(t), t.name());
            assertFalse(CudaInt8Kernels.fits(t, 4096), t.name());
        }
        // Q8_0's matrix-vector unit is 16 values, but the activations are quantized in blocks of 32
        assertTrue(CudaKernels.vectorisable(GgmlType.Q8_0, 48));
        assertFalse(CudaInt8Kernels.fits(GgmlType.Q8_0, 48));
    }

    @Test
    void theTokenCapIsOneToEightAndABadValueSaysWhatIsExpected() {
        assertEquals(8, CudaInt8Kernels.MAX_STEP_TOKENS);
        // single-token steps only by default, until the multi-token kernels have run on a GPU
        assertEquals(1, CudaInt8Kernels.tokensFrom(null));
        assertEquals(1, CudaInt8Kernels.tokensFrom(" "));
        assertEquals(8, CudaInt8Kernels.tokensFrom("8"));
        assertEquals(1, CudaInt8Kernels.tokensFrom("1"));
        assertEquals(5, CudaInt8Kernels.tokensFrom(" 5 "));
        for (String bad : new String[] {"0", "9", "-1", "four"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CudaInt8Kernels.tokensFrom(bad));
            assertTrue(e.getMessage().contains(CudaInt8Kernels.TOKENS_PROPERTY) && e.getMessage().contains(bad)
                    && e.getMessage().contains("1 to " + CudaInt8Kernels.MAX_STEP_TOKENS), e.getMessage());
        }
    }

    @Test
    void rowsTheKernelsCannotTakeAreRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaInt8Kernels.require(GgmlType.F16, 4096));
        assertTrue(e.getMessage().contains("F16") && e.getMessage().contains("4096"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CudaInt8Kernels.require(GgmlType.Q8_0, 48));
    }
}

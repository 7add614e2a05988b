package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** Misuse is reported clearly: a row length that is not whole blocks names the format and the block size. */
class ArgumentChecksTest {
    static final GgmlType[] FORMATS = QuantTestData.FORMATS;

    @ParameterizedTest
    @FieldSource("FORMATS")
    void partialBlockIsRejected(GgmlType type) {
        int n = type.blockSize() == 1 ? -1 : type.blockSize() + 1;
        MemorySegment seg = MemorySegment.ofArray(new byte[4096]);
        float[] f = new float[4096];
        for (RowKernel k : new RowKernel[] {CpuKernels.scalar(type), CpuKernels.of(type)}) {
            for (Runnable call : new Runnable[] {
                    () -> k.dot(seg, 0, f, 0, n),
                    () -> k.dequantize(seg, 0, f, 0, n),
                    () -> k.quantize(f, 0, seg, 0, n)}) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call::run);
                assertTrue(e.getMessage().contains(type.toString()), e.getMessage());
                assertTrue(e.getMessage().contains("block size " + type.blockSize()), e.getMessage());
            }
        }
    }

    @Test
    void unsupportedFormatIsNamed() {
        assertFalse(CpuKernels.isSupported(GgmlType.IQ2_XXS));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> CpuKernels.of(GgmlType.IQ2_XXS));
        assertTrue(e.getMessage().contains("IQ2_XXS"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> CpuKernels.scalar(GgmlType.IQ3_S));
    }

    @Test
    void registryListsEveryImplementedFormat() {
        for (GgmlType t : FORMATS) {
            assertTrue(CpuKernels.isSupported(t), t.toString());
            assertTrue(CpuKernels.supported().contains(t), t.toString());
            assertTrue(CpuKernels.of(t).type() == t && CpuKernels.scalar(t).type() == t, t.toString());
        }
        assertThrows(UnsupportedOperationException.class, () -> CpuKernels.supported().add(GgmlType.Q2_K));
    }

    @Test
    void rowPastTheSegmentEndFails() {
        // 2 Q8_0 blocks are 68 bytes; a 64-byte segment must not be read past its end.
        MemorySegment seg = MemorySegment.ofArray(new byte[64]);
        float[] x = new float[64];
        for (RowKernel k : new RowKernel[] {CpuKernels.scalar(GgmlType.Q8_0), CpuKernels.of(GgmlType.Q8_0)}) {
            assertThrows(IndexOutOfBoundsException.class, () -> k.dot(seg, 0, x, 0, 64));
            assertThrows(IndexOutOfBoundsException.class, () -> k.dequantize(seg, 0, x, 0, 64));
        }
    }
}

package io.offload4j.embedding;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.backend.cuda.CudaDevice;
import io.offload4j.model.EncoderModel;
import org.junit.jupiter.api.Test;

/**
 * Where an encoder runs on a machine without a usable GPU (the build machine; the GPU side is
 * {@code backend.cuda.EncoderGpuTest}): {@code cpu} and {@code auto} on the CPU, {@code cuda} refused with the reason.
 */
class EncoderDeviceChoiceTest {

    private static boolean noGpu() {
        try {
            return CudaDevice.unavailableReason(0) != null;
        } catch (RuntimeException | LinkageError e) {
            return true;
        }
    }

    @Test
    void cpuAndAutoWithoutAGpuRunOnTheCpu() {
        assumeTrue(noGpu(), "a GPU is usable here: EncoderGpuTest covers it");
        try (EncoderModel model = EncoderModel.load(EmbeddingReferenceTest.resource("hf-bert"))) {
            for (String device : new String[] {"cpu", "auto"}) {
                EncoderDeviceChoice.Prepared p = EncoderDeviceChoice.prepare(model, 64, device, 1);
                try {
                    assertTrue(p.backend() instanceof CpuBackend, device + ": " + p.backend().description());
                    assertTrue(p.pass().maxRows() == 64);
                } finally {
                    p.pass().close();
                    p.backend().close();
                }
            }
        }
    }

    @Test
    void cudaWithoutAGpuIsRefusedWithTheReason() {
        assumeTrue(noGpu(), "a GPU is usable here: EncoderGpuTest covers it");
        try (EncoderModel model = EncoderModel.load(EmbeddingReferenceTest.resource("hf-bert"))) {
            var e = assertThrows(IllegalArgumentException.class,
                    () -> EncoderDeviceChoice.prepare(model, 64, "cuda", 1));
            assertTrue(e.getMessage().contains("not usable"), e.getMessage());
        }
    }
}

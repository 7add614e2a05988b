package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.model.EncoderConfig;
import io.offload4j.model.EncoderModel;
import io.offload4j.model.EncoderWeights;
import io.offload4j.model.Weight;
import java.net.URISyntaxException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * The host-side parts of the GPU encoder's nomic-bert support, which need no GPU: the rotary cos / sin tables
 * {@code enc_rope} reads, and the device-memory estimate of a model without a position table and with gates.
 */
class EncoderRotaryTablesTest {

    private static Path nomic(String name) {
        try {
            return Path.of(EncoderRotaryTablesTest.class.getResource("/nomic/" + name).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void tablesHoldCosAndSinOfPositionTimesTheInverseFrequency() {
        EncoderConfig c = new EncoderConfig("t", EncoderConfig.Family.BERT, 10, 3 * 64, 1, 3, 256, 2048, 2, 1e-12f, 0,
                false, 0, false, 10000f);
        EncoderRotaryTables t = EncoderRotaryTables.of(c, 2048);
        assertEquals(32, t.half());
        assertEquals(2048 * 32, t.cos().length);
        for (int p : new int[] {0, 1, 7, 511, 2047}) {
            for (int i : new int[] {0, 1, 15, 31}) {
                double angle = p * Math.pow(10000.0, -2.0 * i / 64);
                assertEquals(Math.cos(angle), t.cos()[p * 32 + i], 1e-7, "cos p " + p + " i " + i);
                assertEquals(Math.sin(angle), t.sin()[p * 32 + i], 1e-7, "sin p " + p + " i " + i);
            }
        }
        assertEquals(1f, t.cos()[5]);
        assertEquals(0f, t.sin()[5]);
    }

    @Test
    void aPassNeedsPositionsBelowItsRowsAndTheModelsLimit() throws Exception {
        try (EncoderModel m = EncoderModel.load(nomic("tiny-nomic-bert-f32.gguf"))) {
            assertEquals(128, m.config().maxTokens());
            assertEquals(128, EncoderRotaryTables.positionsFor(m.config(), 256));
            assertEquals(40, EncoderRotaryTables.positionsFor(m.config(), 40));
            EncoderRotaryTables t = EncoderRotaryTables.of(m.config(), 128);
            assertEquals(m.config().headDim() / 2, t.half());
            double theta = Math.pow(1000.0, -2.0 * 3 / m.config().headDim());   // the fixture's freq_base 1000
            assertEquals(Math.cos(100 * theta), t.cos()[100 * t.half() + 3], 1e-7);
        }
    }

    @Test
    void learnedPositionsHaveNoTables() {
        EncoderConfig bert = new EncoderConfig("bert", EncoderConfig.Family.BERT, 10, 64, 1, 4, 256, 512, 2, 1e-12f,
                0, false, 0, false);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> EncoderRotaryTables.of(bert, 16));
        assertTrue(e.getMessage().contains("learned positions"), e.getMessage());
    }

    /** No position table (null) and a gate per layer: the estimate counts every matrix, gates included. */
    @Test
    void theDeviceEstimateOfNomicBertCountsTheGatesAndNoPositionTable() {
        try (EncoderModel m = EncoderModel.load(nomic("tiny-nomic-bert-f16.gguf"))) {
            EncoderWeights w = m.weights();
            assertEquals(null, w.positions());
            long matrices = 0;
            for (EncoderWeights.Layer l : w.layers()) {
                for (Weight x : new Weight[] {l.wq(), l.wk(), l.wv(), l.wo(), l.up(), l.gate(), l.down()}) {
                    matrices += 4L * x.rows() * x.cols();
                }
            }
            long bytes = CudaEncoderWeights.bytes(w, m.config());
            assertTrue(bytes >= matrices + w.tokenEmbedding().byteSize(), bytes + " bytes estimated, " + matrices
                    + " of fp32 matrices");
        }
    }
}

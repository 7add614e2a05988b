package io.offload4j.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The tabulated exact GELU against the error function, and erf against known values. */
class GeluTest {

    @Test
    void erfMatchesKnownValues() {
        assertEquals(0.0, Gelu.erf(0), 1e-7);
        assertEquals(0.8427007929497149, Gelu.erf(1), 1e-7);
        assertEquals(-0.9953222650189527, Gelu.erf(-2), 1e-7);
        assertEquals(0.5204998778130465, Gelu.erf(0.5), 1e-7);
    }

    @Test
    void tabulatedGeluIsWithinFloatPrecisionEverywhere() {
        for (double x = -12; x <= 12; x += 0.0003721) {
            double expected = Gelu.exactReference(x);
            float actual = Gelu.exact((float) x);
            assertEquals(expected, actual, 3e-7 * Math.max(1, Math.abs(x)), "gelu(" + x + ")");
        }
        assertEquals(0f, Gelu.exact(-20f));
        assertEquals(20f, Gelu.exact(20f));
    }
}

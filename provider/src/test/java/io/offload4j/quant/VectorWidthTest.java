package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Vector API kernels at every width, whatever this machine prefers: child JVMs forced to 128-,
 * 256- and 512-bit vectors ({@code -Doffload4j.vector.bits}) run {@link VectorWidthCheckMain}. A width
 * the CPU lacks is executed by the Vector API's Java fallback (slow, but the same results), so the
 * 16-lane (AVX-512) code paths are checked on an AVX2 machine too. At 128 bits (4 lanes) the quant
 * kernels stay scalar by design and only the float ops are vectorized.
 */
class VectorWidthTest {

    @ParameterizedTest
    @ValueSource(ints = {128, 256, 512})
    void kernelsAgreeWithScalarAtWidth(int bits) throws Exception {
        List<String> cmd = List.of(ProcessHandle.current().info().command().orElseThrow(),
                "-XX:TieredStopAtLevel=1", "--add-modules", "jdk.incubator.vector",
                "-D" + VectorKernels.BITS_PROPERTY + "=" + bits,
                "-cp", System.getProperty("java.class.path"), VectorWidthCheckMain.class.getName());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM did not finish");
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("description=Vector API, " + bits + "-bit"), out);
        assertFalse(out.contains("FAIL"), out);
        assertTrue(out.contains("checked 57"), out);
        assertTrue(out.contains("floatOps=VectorFloatOps"), out);
        assertTrue(out.contains("vectorized=" + (bits >= 256)), out);
    }
}

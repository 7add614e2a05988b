package io.offload4j.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.gguf.GgmlType;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Kernel selection, proven in child JVMs (same java binary, same class path) running
 * {@link ScalarFallbackMain}: without {@code --add-modules jdk.incubator.vector} the scalar kernels run
 * and the incubator module is never resolved (no incubator warning); with the module but
 * {@code -Doffload4j.vector=false} they run too; with the module the Vector API kernels run (on a
 * machine whose preferred float species has 8 or 16 lanes).
 */
class ScalarFallbackTest {

    private record Child(Map<String, String> values, String stderr) {}

    private static Child run(String... jvmArgs) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElseThrow());
        cmd.add("-XX:TieredStopAtLevel=1"); // a short run: C1 only starts faster
        cmd.addAll(List.of(jvmArgs));
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(ScalarFallbackMain.class.getName());
        Process p = new ProcessBuilder(cmd).start();
        byte[] out = p.getInputStream().readAllBytes();
        byte[] err = p.getErrorStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "child JVM did not finish");
        String stdout = new String(out, StandardCharsets.UTF_8);
        String stderr = new String(err, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "child JVM failed: " + cmd + "\n" + stdout + stderr);
        Map<String, String> values = new HashMap<>();
        for (String line : stdout.split("\\R")) {
            int eq = line.indexOf('=');
            if (eq > 0) {
                values.put(line.substring(0, eq), line.substring(eq + 1));
            }
        }
        return new Child(values, stderr);
    }

    /** The dot the child computes, done here with the scalar kernel. */
    private static float expectedDot() {
        float[] w = new float[64];
        float[] x = new float[64];
        for (int i = 0; i < 64; i++) {
            w[i] = (i % 7) - 3;
            x[i] = 1 + (i % 3);
        }
        RowKernel k = CpuKernels.scalar(GgmlType.Q8_0);
        MemorySegment row = MemorySegment.ofArray(new byte[(int) GgmlType.Q8_0.bytesFor(64)]);
        k.quantize(w, 0, row, 0, 64);
        return k.dot(row, 0, x, 0, 64);
    }

    @Test
    void withoutIncubatorModuleTheScalarKernelsRun() throws Exception {
        Child c = run();
        assertEquals("false", c.values().get("vectorized"), c.values().toString());
        assertEquals("ScalarQ8_0Kernel", c.values().get("kernel"));
        assertEquals("ScalarFloatOps", c.values().get("floatOps"));
        // The same scalar code, so the same float, bit for bit.
        assertEquals(Float.toString(expectedDot()), c.values().get("dot"));
        assertFalse(c.stderr().contains("incubator"), "the incubator module was resolved: " + c.stderr());
    }

    @Test
    void propertyFalseKeepsTheScalarKernels() throws Exception {
        Child c = run("--add-modules", "jdk.incubator.vector", "-D" + CpuKernels.VECTOR_PROPERTY + "=false");
        assertEquals("false", c.values().get("vectorized"), c.values().toString());
        assertEquals("ScalarQ8_0Kernel", c.values().get("kernel"));
        assertEquals(Float.toString(expectedDot()), c.values().get("dot"));
    }

    @Test
    void withIncubatorModuleTheVectorKernelsRun() throws Exception {
        Child c = run("--add-modules", "jdk.incubator.vector");
        // This JVM (started by surefire with the module) made the same choice.
        assertEquals(Boolean.toString(CpuKernels.vectorized()), c.values().get("vectorized"), CpuKernels.description());
        assertEquals(CpuKernels.of(GgmlType.Q8_0).getClass().getSimpleName(), c.values().get("kernel"));
        assertEquals(CpuKernels.floatOps().getClass().getSimpleName(), c.values().get("floatOps"));
        float dot = Float.parseFloat(c.values().get("dot"));
        assertEquals(expectedDot(), dot, 1e-5f * Math.abs(expectedDot()) + 1e-4f);
    }
}

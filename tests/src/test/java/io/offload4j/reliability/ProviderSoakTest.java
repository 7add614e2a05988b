package io.offload4j.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.engine.EngineOptions;
import io.offload4j.engine.InferenceEngine;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The short, bounded soak that runs in CI (seconds): four rounds of 40 mixed requests from 6 clients on a tiny
 * random-weight model. The long one is {@link ProviderSoak#main} (tests/reliability/README.md).
 */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class ProviderSoakTest {

    @Test
    void mixedLoadHasNoFailuresEqualGreedyOutputsAndNoLeakedKvCache() throws Exception {
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        ProviderSoak.Report report;
        try (InferenceEngine engine = InferenceEngine.load(ProviderSoak.syntheticModel("tiny"),
                EngineOptions.DEFAULTS.withDevice("cpu").withThreads(1))) {
            report = ProviderSoak.run(engine, ProviderSoak.Options.CI, new PrintStream(log, true, StandardCharsets.UTF_8));
        }
        String lines = log.toString(StandardCharsets.UTF_8);
        System.out.print(lines);
        assertTrue(report.ok(), String.join("\n", report.failures()));
        assertEquals(ProviderSoak.Options.CI.rounds(), report.rounds().size(), lines);
        ProviderSoak.Round first = report.rounds().getFirst();
        ProviderSoak.Round last = report.rounds().getLast();
        assertTrue(last.cancelled() > 0 && last.refused() > 0, lines);
        // Heap after GC does not grow round over round beyond noise (the prefix cache is bounded and full by then).
        assertTrue(last.heapAfterGcBytes() < first.heapAfterGcBytes() + (64L << 20), lines);
    }

    /**
     * Issue 19, item 1: under a small heap the prefix cache used to grow to 512 MiB and kill the engine thread with
     * an OutOfMemoryError. The soak program in its own JVM with -Xmx48m: 360 requests, a third of them leaving a new
     * KV cache behind, and no failure.
     */
    @Test
    void aSmallHeapServesEveryRequestBecauseThePrefixCacheFollowsIt() throws Exception {
        String java = ProcessHandle.current().info().command().orElseThrow();
        ProviderSoak.syntheticModel("tiny"); // written here, so that the child does not race another test for it
        Process p = new ProcessBuilder(java, "-Xmx48m", "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                ProviderSoak.class.getName(), "--device", "cpu", "--shape", "tiny", "--rounds", "6", "--requests", "60",
                "--clients", "4", "--max-tokens", "8", "--minutes", "1.5").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(110, TimeUnit.SECONDS), out);
        System.out.print(out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("soak passed: 6 rounds"), out);
    }
}

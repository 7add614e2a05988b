package io.offload4j.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The short rag-web soak of CI: the packaged sample (samples/rag-web/target/offload4j-rag-web.jar, built by the
 * reactor's package phase before this module) in its own JVM on a loopback port with stories260K, then three
 * rounds of 20 mixed requests. Skipped with the reason when the jar or the model is missing.
 */
@Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RagWebSoakTest {

    private static final Path JAR = Path.of("../samples/rag-web/target/offload4j-rag-web.jar");
    private static final Pattern STARTED = Pattern.compile("Tomcat started on port (\\d+)");

    static Path sharedModel() {
        String dir = System.getProperty("offload4j.shared", System.getenv().getOrDefault("OFFLOAD4J_SHARED", "../../shared"));
        return Path.of(dir, "models", "stories260K.gguf");
    }

    @Test
    void onlyLoopbackIsAccepted() {
        assertThrows(IllegalArgumentException.class, () -> RagWebSoak.requireLoopback(URI.create("http://example.com")));
        assertThrows(IllegalArgumentException.class, () -> RagWebSoak.requireLoopback(URI.create("https://127.0.0.1")));
    }

    @Test
    void mixedLoadOnThePackagedSampleHasNoFailuresAndEqualGreedyAnswers() throws Exception {
        assumeTrue(Files.isRegularFile(JAR), "skipped: " + JAR.toAbsolutePath().normalize() + " is not built (run"
                + " the reactor's package phase, e.g. ./mvnw verify)");
        assumeTrue(Files.isRegularFile(sharedModel()), "skipped: reference model " + sharedModel() + " not found;"
                + " set -Doffload4j.shared=DIR");
        String java = ProcessHandle.current().info().command().orElseThrow();
        Process server = new ProcessBuilder(java, "-Xmx512m", "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "-jar", JAR.toString(), "--server.address=127.0.0.1",
                "--server.port=0", "--langchain4j.offload.model=" + sharedModel().toAbsolutePath(),
                "--langchain4j.offload.device=cpu", "--langchain4j.offload.threads=1",
                "--langchain4j.offload.context-length=1024", "--langchain4j.offload.context-beyond-training=true",
                "--langchain4j.offload.chat-model.temperature=0", "--langchain4j.offload.chat-model.max-tokens=24",
                "--rag.max-results=1").redirectErrorStream(true).start();
        StringBuilder serverLog = new StringBuilder();
        CompletableFuture<Integer> port = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(server.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = in.readLine()) != null; ) {
                    synchronized (serverLog) {
                        serverLog.append(line).append('\n');
                    }
                    Matcher m = STARTED.matcher(line);
                    if (m.find()) {
                        port.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (java.io.IOException ignored) {
                // the server ended
            }
            port.completeExceptionally(new IllegalStateException("the server ended before it listened"));
        });
        try {
            int p = port.get(150, TimeUnit.SECONDS);
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            RagWebSoak.Report report = RagWebSoak.run(URI.create("http://127.0.0.1:" + p), RagWebSoak.Options.CI,
                    new PrintStream(log, true, StandardCharsets.UTF_8));
            String lines = log.toString(StandardCharsets.UTF_8);
            System.out.print(lines);
            assertTrue(report.ok(), String.join("\n", report.failures()) + "\n" + lines);
            assertEquals(RagWebSoak.Options.CI.rounds(), report.rounds().size(), lines);
            List<RagWebSoak.Round> rounds = report.rounds();
            assertTrue(rounds.getLast().rssBytes() > 0 || !System.getProperty("os.name").contains("Linux"), lines);
        } finally {
            server.destroy();
            if (!server.waitFor(20, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
            synchronized (serverLog) {
                if (serverLog.toString().contains("ERROR")) {
                    System.out.println("server log:\n" + serverLog);
                }
            }
        }
    }
}

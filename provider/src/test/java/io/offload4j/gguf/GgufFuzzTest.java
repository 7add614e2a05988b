package io.offload4j.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.DictionaryEntries;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Fuzzes the GGUF reader with arbitrary bytes (see {@link GgufFuzzTarget} for what counts as a finding).
 *
 * <p>In a normal build ({@code ./mvnw verify}) this runs in regression mode: once per file of the seed
 * corpus {@code src/test/resources/io/offload4j/gguf/GgufFuzzTestInputs/parseAndRead/} (valid tiny files
 * from {@link GgufSeedCorpus}, truncated and damaged ones, and every input that ever crashed the reader).
 *
 * <p>To fuzz for N minutes (here 10), from the repository root:
 * <pre>
 *   cd provider &amp;&amp; JAZZER_FUZZ=1 ../mvnw -B test -Dtest=GgufFuzzTest#parseAndRead \
 *       -Djazzer.max_duration=10m -Djunit.jupiter.execution.timeout.mode=disabled
 * </pre>
 * {@code jazzer.max_duration} overrides the {@code maxDuration} below (accepts 30s, 10m, 2h).
 * {@code junit.jupiter.execution.timeout.mode=disabled} is needed because all fuzzing inputs run in one
 * JUnit invocation: JUnit would otherwise fail the whole run for exceeding {@code @Timeout}, which Jazzer
 * already applies per input (a hang of over 10 s is a finding). New coverage goes to
 * {@code provider/.cifuzz-corpus/} (ignored by git); a crashing input is written into the inputs folder
 * above as {@code crash-<sha1>}: fix the reader and commit the file as a regression, renamed
 * {@code regression-<what it found>}. To regenerate the seeds run {@link GgufSeedCorpus#main}.
 */
class GgufFuzzTest {

    /**
     * Jazzer reads its options when the fuzz test's arguments are provided, after this runs.
     *
     * <p>In regression mode (a normal build) Jazzer's built-in bug-detector hooks only cost start-up time
     * (about 20 s on 2 cores, retransforming JDK classes) and cannot fire in a byte parser. While fuzzing
     * they stay on: they also feed string comparisons back to the fuzzer.
     */
    @BeforeAll
    static void configureJazzer() {
        String fuzz = System.getenv("JAZZER_FUZZ");
        if (fuzz == null || fuzz.isEmpty()) {
            if (System.getProperty("jazzer.hooks") == null) {
                System.setProperty("jazzer.hooks", "false");
            }
        }
    }

    @FuzzTest(maxDuration = "5m")
    @Timeout(10)
    @DictionaryEntries({"GGUF", "general.alignment", "general.architecture", "tokenizer.ggml.tokens"})
    void parseAndRead(byte[] bytes) {
        GgufFuzzTarget.exercise(bytes);
    }

    /** The corpus that regression mode runs is there, and its named files behave as their names say. */
    @Test
    void seedCorpusIsPresentAndMeaningful() throws IOException, URISyntaxException {
        var url = GgufFuzzTest.class.getResource("GgufFuzzTestInputs/parseAndRead");
        assertNotNull(url, "seed corpus missing from the test resources");
        List<Path> seeds;
        try (Stream<Path> s = Files.list(Path.of(url.toURI()))) {
            seeds = s.sorted().toList();
        }
        assertTrue(seeds.size() >= 20, "expected at least 20 seeds, found " + seeds.size());
        int valid = 0;
        for (Path seed : seeds) {
            String name = seed.getFileName().toString();
            int tensors = GgufFuzzTarget.exercise(Files.readAllBytes(seed));
            if (name.startsWith("valid-")) {
                assertTrue(tensors >= 0, name + " should parse");
                valid++;
            } else if (name.startsWith("invalid-") || name.startsWith("truncated-")) {
                assertEquals(-1, tensors, name + " should be rejected");
            }
        }
        assertTrue(valid >= 8, "expected at least 8 valid seeds, found " + valid);
    }
}

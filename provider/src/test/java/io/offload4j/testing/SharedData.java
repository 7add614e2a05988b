package io.offload4j.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/**
 * Locates the project's reference data ({@code ../shared}: real models, vocabularies, templates),
 * which may not be committed. Order: system property {@code offload4j.shared}, environment variable
 * {@code OFFLOAD4J_SHARED}, then {@code ../shared} and {@code ../../shared} from the working directory.
 * Tests that need a file call {@link #require}, which skips the test with a message saying what is
 * missing and how to provide it.
 */
public final class SharedData {

    private SharedData() {}

    /** The shared folder, if one can be found. */
    public static Optional<Path> root() {
        String prop = System.getProperty("offload4j.shared");
        if (prop != null && Files.isDirectory(Path.of(prop))) {
            return Optional.of(Path.of(prop).toAbsolutePath().normalize());
        }
        String env = System.getenv("OFFLOAD4J_SHARED");
        if (env != null && Files.isDirectory(Path.of(env))) {
            return Optional.of(Path.of(env).toAbsolutePath().normalize());
        }
        for (String candidate : new String[] {"../shared", "../../shared", "../../../shared"}) {
            Path p = Path.of(candidate);
            if (Files.isDirectory(p.resolve("models")) || Files.isDirectory(p.resolve("vocab"))) {
                return Optional.of(p.toAbsolutePath().normalize());
            }
        }
        return Optional.empty();
    }

    /** The file at {@code relative} under the shared folder, if present. */
    public static Optional<Path> find(String relative) {
        return root().map(r -> r.resolve(relative)).filter(Files::exists);
    }

    /** The file at {@code relative}, or the current test is skipped with a message that says why. */
    public static Path require(String relative) {
        Optional<Path> p = find(relative);
        assumeTrue(p.isPresent(), () -> "skipped: reference file shared/" + relative + " not found (looked in "
                + root().map(Path::toString).orElse("no shared folder")
                + "); set -Doffload4j.shared=DIR or OFFLOAD4J_SHARED=DIR to the folder holding the reference data");
        return p.get();
    }

    /** Decompresses {@code shared/relative} (a .gz file) into {@code dir} and returns the result; skips when absent. */
    public static Path requireGunzipped(String relative, Path dir) {
        Path gz = require(relative);
        String name = gz.getFileName().toString();
        Path out = dir.resolve(name.endsWith(".gz") ? name.substring(0, name.length() - 3) : name);
        try (InputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
            Files.copy(in, out, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out;
    }
}

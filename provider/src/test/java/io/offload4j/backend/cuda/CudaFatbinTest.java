package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The committed fatbin must be the one built from the committed CUDA sources: this recomputes the
 * checksum that {@code provider/src/main/cuda/build.sh} records (same canonical form) and fails when
 * a kernel source changed without a rebuild, or the fatbin was replaced. Needs no GPU.
 */
class CudaFatbinTest {

    private static final Path SOURCES = Path.of("src/main/cuda");

    static String sourcesChecksum(Path dir) throws IOException, NoSuchAlgorithmException {
        List<Path> files;
        try (Stream<Path> s = Files.list(dir)) {
            files = s.filter(p -> {
                String n = p.getFileName().toString();
                return n.endsWith(".cu") || n.endsWith(".cuh") || n.equals("build.sh");
            }).sorted((a, b) -> compareBytes(a.getFileName().toString(), b.getFileName().toString())).toList();
        }
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        for (Path f : files) {
            md.update((f.getFileName().toString() + "\n").getBytes(StandardCharsets.UTF_8));
            md.update(Files.readAllBytes(f));
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** `LC_ALL=C sort` order. */
    private static int compareBytes(String a, String b) {
        return java.util.Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8), b.getBytes(StandardCharsets.UTF_8));
    }

    private static String recorded(String key) throws IOException {
        try (InputStream in = CudaKernels.class.getResourceAsStream(CudaKernels.CHECKSUM)) {
            assertTrue(in != null, "resource " + CudaKernels.CHECKSUM + " missing: run provider/src/main/cuda/build.sh");
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                String[] parts = line.trim().split("\\s+");
                if (parts.length == 2 && parts[0].equals(key)) {
                    return parts[1];
                }
            }
        }
        throw new AssertionError("no '" + key + "' line in " + CudaKernels.CHECKSUM);
    }

    @Test
    void fatbinIsBuiltFromTheseSources() throws Exception {
        assumeTrue(Files.isDirectory(SOURCES), "skipped: CUDA sources not found at " + SOURCES.toAbsolutePath()
                + " (the test runs from the provider module directory)");
        assertEquals(recorded("sources"), sourcesChecksum(SOURCES),
                "the CUDA sources changed since the fatbin was built: run provider/src/main/cuda/build.sh and commit"
                        + " the regenerated resources");
    }

    @Test
    void fatbinMatchesItsRecordedChecksum() throws Exception {
        byte[] fatbin = CudaKernels.fatbin();
        String actual = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(fatbin));
        assertEquals(recorded("fatbin"), actual, "offload4j.fatbin is not the file build.sh recorded; rebuild it");
    }
}

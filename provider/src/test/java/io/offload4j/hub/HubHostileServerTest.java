package io.offload4j.hub;

import static io.offload4j.hub.HubTests.bytes;
import static io.offload4j.hub.HubTests.resolver;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.testing.FakeHub;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Issue 19: a hub (or something posing as one) that sends too much, links elsewhere, or names paths with '..'. */
class HubHostileServerTest {

    private static final String REPO = "acme/tiny-GGUF";
    private static final String FILE = "tiny-Q8_0.gguf";
    private static final byte[] MODEL = bytes(50_000, 1);

    @TempDir
    Path cache;

    private final FakeHub hub;

    HubHostileServerTest() throws IOException {
        hub = new FakeHub().file(REPO, FILE, MODEL, true);
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    @Test
    void aBodyLongerThanTheAnnouncedSizeIsCutAtOnceNotRetriedAndNotKept() throws IOException {
        hub.oversizeBody.set(10);
        hub.oversizeBytes = 8 << 20;
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE));
        assertTrue(e.getMessage().contains("sent more than the 50000 bytes announced"), e.getMessage());
        assertFalse(e.getMessage().contains("resumes"), "no resume is promised: " + e.getMessage());
        assertEquals(1, hub.requests("cdn").size(), "one attempt: another would only repeat it");
        Path blobs = cache.resolve("models--acme--tiny-GGUF/blobs");
        try (Stream<Path> files = Files.exists(blobs) ? Files.list(blobs) : Stream.empty()) {
            for (Path f : files.toList()) {
                assertTrue(f.getFileName().toString().endsWith(".lock") || Files.size(f) <= MODEL.length,
                        f + " holds " + Files.size(f) + " bytes");
            }
        }
    }

    @Test
    void aNextPageOnAnotherHostIsNotFollowed() throws IOException {
        try (FakeHub other = new FakeHub()) {
            hub.file(REPO, "a-Q4_0.gguf", bytes(10, 2), true).file(REPO, "b-Q4_0.gguf", bytes(10, 3), true)
                    .file(REPO, "c-Q4_K_M.gguf", bytes(10, 4), true);
            hub.treePageSize = 2;
            hub.foreignNextPage = URI.create("http://localhost:" + other.endpoint().getPort());
            ModelResolutionException e = assertThrows(ModelResolutionException.class,
                    () -> resolver(hub, cache).token("hf_secret").build().resolve(REPO + ":Q4_K_M"));
            assertTrue(e.getMessage().contains("another host than the hub's"), e.getMessage());
            assertEquals(List.of(), other.requests(), "nothing was sent to the other host");
        }
    }

    @Test
    void aPathWithDotDotIsRefusedBeforeAnyRequestForIt() {
        hub.file(REPO, "sub/../evil-Q4_K_M.gguf", bytes(10, 5), true);
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> resolver(hub, cache).token("hf_secret").build().resolve(REPO + ":Q4_K_M"));
        assertTrue(e.getMessage().contains("is not a usable file path"), e.getMessage());
        assertTrue(hub.requests().stream().noneMatch(r -> r.method().equals("HEAD")),
                "no HEAD (with the token) for a path that is refused anyway: " + hub.requests());
    }
}

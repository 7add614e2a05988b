package io.offload4j.hub;

import static io.offload4j.hub.HubTests.bytes;
import static io.offload4j.hub.HubTests.resolver;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.testing.FakeHub;
import java.io.IOException;
import java.net.http.HttpClient;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Downloads through the hub protocol against a real local HTTP hub and CDN. */
class ModelResolverDownloadTest {

    private static final String REPO = "acme/tiny-GGUF";
    private static final String FILE = "tiny-Q8_0.gguf";
    private static final byte[] MODEL = bytes(50_000, 1);

    @TempDir
    Path cache;

    private final FakeHub hub;

    ModelResolverDownloadTest() throws IOException {
        hub = new FakeHub().file(REPO, FILE, MODEL, true).file(REPO, "config.json",
                "{\"a\":1}".getBytes(StandardCharsets.UTF_8), false);
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    private Path repoDir() {
        return cache.resolve("models--acme--tiny-GGUF");
    }

    @Test
    void lfsFileComesFromTheCdnIntoTheHubCacheLayoutAndTheTokenStaysOnTheHub() throws IOException {
        HubTests.Events events = new HubTests.Events();
        Path p = resolver(hub, cache).token("hf_secret").build().resolve("hf:" + REPO + "/" + FILE, events);

        String commit = hub.commit(REPO);
        String sha = FakeHub.sha256(MODEL);
        assertEquals(repoDir().resolve("snapshots/" + commit + "/" + FILE), p);
        assertArrayEquals(MODEL, Files.readAllBytes(p));
        assertTrue(Files.isSymbolicLink(p));
        assertEquals(Path.of("../../blobs/" + sha), Files.readSymbolicLink(p), "relative link, as huggingface_hub makes");
        assertTrue(Files.isRegularFile(repoDir().resolve("blobs/" + sha)));
        assertEquals(commit, Files.readString(repoDir().resolve("refs/main")), "refs/main holds the commit, no newline");
        try (Stream<Path> blobs = Files.list(repoDir().resolve("blobs"))) {
            assertEquals(List.of(sha), blobs.map(b -> b.getFileName().toString()).toList(), "no .incomplete left");
        }

        List<FakeHub.Request> hubRequests = hub.requests("hub");
        assertEquals("HEAD", hubRequests.getFirst().method());
        assertEquals("/" + REPO + "/resolve/main/" + FILE, hubRequests.getFirst().path());
        assertTrue(hubRequests.stream().allMatch(r -> "Bearer hf_secret".equals(r.header("Authorization"))));
        List<FakeHub.Request> cdn = hub.requests("cdn");
        assertEquals(1, cdn.size());
        assertNull(cdn.getFirst().header("Authorization"), "the token must not go to the CDN's host");

        assertEquals(List.of("start " + REPO + "/" + FILE + " 50000 0", "done " + REPO + "/" + FILE + " 50000"),
                events.events);
    }

    @Test
    void plainGitFileIsFetchedFromTheHubAtTheCommitAndCheckedAgainstItsGitBlobId() throws IOException {
        Path p = resolver(hub, cache).token("hf_secret").build().resolve("hf:" + REPO + "/config.json");
        assertEquals("{\"a\":1}", Files.readString(p));
        List<FakeHub.Request> requests = hub.requests();
        assertEquals(2, requests.size(), requests.toString());
        assertEquals("/" + REPO + "/resolve/" + hub.commit(REPO) + "/config.json", requests.get(1).path(),
                "the content is fetched at the commit the HEAD named");
        assertEquals("Bearer hf_secret", requests.get(1).header("Authorization"), "same host: the token is sent");
        // The blob is named by the git blob id (the ETag), as in huggingface_hub's cache.
        assertEquals(repoDir().resolve("blobs"), p.toRealPath().getParent());
        assertEquals(40, p.toRealPath().getFileName().toString().length());
    }

    @Test
    void aCachedFileIsUsedWithoutAnyRequest() {
        String spec = "hf:" + REPO + "/" + FILE;
        Path first = resolver(hub, cache).build().resolve(spec);
        hub.clearRequests();
        HubTests.Events events = new HubTests.Events();
        Path again = resolver(hub, cache).build().resolve(spec, events); // a new resolver: nothing kept in memory
        assertEquals(first, again);
        assertEquals(List.of(), hub.requests());
        assertEquals(List.of(), events.events, "a cached file produces no download events");
    }

    @Test
    void aBlobAlreadyCachedUnderAnotherCommitIsLinkedWithoutDownloadingIt() throws IOException {
        resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE);
        String oldCommit = hub.commit(REPO);
        hub.file(REPO, "README.md", "new commit".getBytes(StandardCharsets.UTF_8), false);
        Files.writeString(repoDir().resolve("refs/main"), hub.commit(REPO)); // as if another file had been fetched since
        hub.clearRequests();

        Path p = resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE);
        assertEquals(repoDir().resolve("snapshots/" + hub.commit(REPO) + "/" + FILE), p);
        assertArrayEquals(MODEL, Files.readAllBytes(p));
        assertEquals(List.of("HEAD"), hub.requests().stream().map(FakeHub.Request::method).toList());
        assertTrue(Files.isSymbolicLink(repoDir().resolve("snapshots/" + oldCommit + "/" + FILE)));
    }

    @Test
    void aDroppedConnectionIsResumedWithARangeRequest() throws IOException {
        hub.faultAfterBytes = 20_000;
        hub.dropMidBody.set(1);
        HubTests.Events events = new HubTests.Events();
        Path p = resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE, events);

        assertArrayEquals(MODEL, Files.readAllBytes(p));
        List<FakeHub.Request> cdn = hub.requests("cdn");
        assertEquals(2, cdn.size());
        assertNull(cdn.get(0).header("Range"));
        assertEquals("bytes=20000-", cdn.get(1).header("Range"));
        assertEquals(List.of("start " + REPO + "/" + FILE + " 50000 0", "start " + REPO + "/" + FILE + " 50000 20000",
                "done " + REPO + "/" + FILE + " 50000"), events.events);
    }

    @Test
    void aPartialFileFromAnEarlierRunIsResumed() throws IOException {
        String sha = FakeHub.sha256(MODEL);
        Path part = repoDir().resolve("blobs/" + sha + ".incomplete");
        Files.createDirectories(part.getParent());
        Files.write(part, java.util.Arrays.copyOf(MODEL, 12_345));

        Path p = resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE);
        assertArrayEquals(MODEL, Files.readAllBytes(p));
        assertEquals("bytes=12345-", hub.requests("cdn").getFirst().header("Range"));
        assertFalse(Files.exists(part));
    }

    @Test
    void aServerThatIgnoresTheRangeSendsTheWholeFileAgain() throws IOException {
        hub.faultAfterBytes = 20_000;
        hub.dropMidBody.set(1);
        hub.ignoreRange.set(1);
        Path p = resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE);
        assertArrayEquals(MODEL, Files.readAllBytes(p));
        assertEquals("bytes=20000-", hub.requests("cdn").get(1).header("Range"));
    }

    @Test
    void serverErrorsAndAStalledBodyAreRetried() throws IOException {
        hub.serverError.set(2);
        hub.faultAfterBytes = 10_000;
        hub.stallMidBody.set(1);
        Path p = resolver(hub, cache).timeout(Duration.ofMillis(500)).build().resolve("hf:" + REPO + "/" + FILE);
        assertArrayEquals(MODEL, Files.readAllBytes(p));
        assertEquals(4, hub.requests("cdn").size()); // 503, 503, stalled at 10 000 bytes, resumed
        assertEquals("bytes=10000-", hub.requests("cdn").get(3).header("Range"));
    }

    @Test
    void anExpiredCdnLinkIsRenewedFromTheHub() throws IOException {
        hub.expireLink.set(1);
        Path p = resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE);
        assertArrayEquals(MODEL, Files.readAllBytes(p));
        assertEquals(List.of("HEAD", "HEAD"), hub.requests("hub").stream().map(FakeHub.Request::method).toList());
    }

    @Test
    void persistentDropsEndInAClearErrorAndTheNextRunResumes() throws IOException {
        hub.faultAfterBytes = 1_000;
        hub.dropMidBody.set(3);
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> resolver(hub, cache).retries(2).build().resolve("hf:" + REPO + "/" + FILE));
        assertTrue(e.getMessage().startsWith("downloading " + REPO + "/" + FILE + " from 127.0.0.1 failed after 3 attempts"),
                e.getMessage());
        assertTrue(e.getMessage().contains("next run resumes"), e.getMessage());
        String sha = FakeHub.sha256(MODEL);
        assertFalse(Files.exists(repoDir().resolve("blobs/" + sha)), "a half file never looks complete");
        assertFalse(Files.exists(repoDir().resolve("snapshots")));
        assertFalse(Files.exists(repoDir().resolve("refs/main")));
        assertEquals(3_000, Files.size(repoDir().resolve("blobs/" + sha + ".incomplete")));

        hub.clearRequests();
        Path p = resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE);
        assertArrayEquals(MODEL, Files.readAllBytes(p));
        assertEquals("bytes=3000-", hub.requests("cdn").getFirst().header("Range"));
    }

    @Test
    void aWrongChecksumIsAnErrorAndLeavesNothingThatLooksComplete() throws IOException {
        hub.corruptBody.set(1);
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE));
        assertTrue(e.getMessage().startsWith("checksum mismatch for " + REPO + "/" + FILE), e.getMessage());
        assertTrue(e.getMessage().contains("SHA-256 " + FakeHub.sha256(MODEL)), e.getMessage());
        try (Stream<Path> blobs = Files.list(repoDir().resolve("blobs"))) {
            assertEquals(List.of(), blobs.toList(), "neither the blob nor the .incomplete file is left");
        }
        assertFalse(Files.exists(repoDir().resolve("snapshots")));
    }

    @Test
    void missingTokenForAGatedRepoSaysToSetHfToken() {
        hub.gated(REPO, "hf_good");
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> resolver(hub, cache).build().resolve("hf:" + REPO + "/" + FILE));
        assertTrue(e.getMessage().contains(REPO + "/" + FILE + " is gated or private (HTTP 401"), e.getMessage());
        assertTrue(e.getMessage().contains("set HF_TOKEN"), e.getMessage());

        ModelResolutionException wrong = assertThrows(ModelResolutionException.class,
                () -> resolver(hub, cache).token("hf_bad").build().resolve("hf:" + REPO + "/" + FILE));
        assertTrue(wrong.getMessage().contains("is gated or private (HTTP 403"), wrong.getMessage());
        assertTrue(wrong.getMessage().contains("the account of HF_TOKEN has no access"), wrong.getMessage());

        Path p = resolver(hub, cache).token("hf_good").build().resolve("hf:" + REPO + "/" + FILE);
        assertTrue(Files.isRegularFile(p));
    }

    @Test
    void unknownFilesAndReposAreNamed() {
        ModelResolver r = resolver(hub, cache).build();
        ModelResolutionException file = assertThrows(ModelResolutionException.class,
                () -> r.resolve("hf:" + REPO + "/sub/dir/missing.gguf"));
        assertTrue(file.getMessage().startsWith("no such file 'sub/dir/missing.gguf' in repo " + REPO + " (HTTP 404"),
                file.getMessage());
        ModelResolutionException repo = assertThrows(ModelResolutionException.class, () -> r.resolve("hf:acme/nope/x.gguf"));
        assertTrue(repo.getMessage().startsWith("no such repo acme/nope on " + hub.endpoint()), repo.getMessage());
        assertTrue(repo.getMessage().contains("if it is gated or private, set HF_TOKEN"), repo.getMessage());
    }

    @Test
    void filesInSubfoldersAndRenamedReposResolve() throws IOException {
        byte[] nested = bytes(3_000, 2);
        hub.file(REPO, "Q4_K_M/tiny-Q4_K_M.gguf", nested, true).renamed("old/tiny", REPO);
        Path p = resolver(hub, cache).token("t").build().resolve("hf:old/tiny/Q4_K_M/tiny-Q4_K_M.gguf");
        assertArrayEquals(nested, Files.readAllBytes(p));
        assertEquals(Path.of("../../../blobs/" + FakeHub.sha256(nested)), Files.readSymbolicLink(p));
        // The relative redirect stays on the hub, so it was followed with the token.
        List<FakeHub.Request> hubRequests = hub.requests("hub");
        assertEquals("/" + REPO + "/resolve/main/Q4_K_M/tiny-Q4_K_M.gguf", hubRequests.get(1).path());
        assertEquals("Bearer t", hubRequests.get(1).header("Authorization"));
    }

    @Test
    void anUnreachableHubSaysHowToWorkWithoutIt() throws IOException {
        int port;
        try (var s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ModelResolutionException e = assertThrows(ModelResolutionException.class, () -> resolver(hub, cache)
                .endpoint("http://127.0.0.1:" + port).build().resolve("hf:" + REPO + "/" + FILE));
        assertTrue(e.getMessage().startsWith("cannot reach the Hugging Face hub at http://127.0.0.1:" + port), e.getMessage());
        assertTrue(e.getMessage().contains("--model /path/to/model.gguf"), e.getMessage());
    }

    @Test
    void aClientThatFollowsRedirectsItselfIsRefused() {
        HttpClient following = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).build();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelResolver.builder().httpClient(following));
        assertTrue(e.getMessage().contains("followRedirects(HttpClient.Redirect.NEVER)"), e.getMessage());
    }
}

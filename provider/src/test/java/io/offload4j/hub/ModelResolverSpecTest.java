package io.offload4j.hub;

import static io.offload4j.hub.HubTests.bytes;
import static io.offload4j.hub.HubTests.resolver;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.testing.FakeHub;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The spec forms: local paths, {@code owner/repo:QUANT}, safetensors repositories, offline mode. */
class ModelResolverSpecTest {

    private static final String GGUF_REPO = "acme/llm-GGUF";
    private static final String ST_REPO = "acme/llm";

    @TempDir
    Path cache;

    private final FakeHub hub;

    ModelResolverSpecTest() throws IOException {
        hub = new FakeHub()
                .file(GGUF_REPO, "README.md", utf8("# llm"), false)
                .file(GGUF_REPO, "llm-Q4_K_M.gguf", bytes(4_000, 1), true)
                .file(GGUF_REPO, "llm-Q4_K_S.gguf", bytes(4_000, 2), true)
                .file(GGUF_REPO, "llm-Q8_0.gguf", bytes(8_000, 3), true)
                .file(GGUF_REPO, "mmproj-llm-Q8_0.gguf", bytes(1_000, 4), true)
                .file(GGUF_REPO, "big/llm-F16-00001-of-00002.gguf", bytes(100, 5), true)
                .file(GGUF_REPO, "big/llm-F16-00002-of-00002.gguf", bytes(100, 6), true);
        hub.file(ST_REPO, "config.json", utf8("{\"model_type\":\"llama\"}"), false)
                .file(ST_REPO, "tokenizer.json", utf8("{\"model\":{}}"), false)
                .file(ST_REPO, "tokenizer_config.json", utf8("{}"), false)
                .file(ST_REPO, "model.safetensors.index.json", utf8("{\"metadata\":{},\"weight_map\":{"
                        + "\"a\":\"model-00001-of-00002.safetensors\",\"b\":\"model-00002-of-00002.safetensors\","
                        + "\"c\":\"model-00001-of-00002.safetensors\"}}"), false)
                .file(ST_REPO, "model-00001-of-00002.safetensors", bytes(3_000, 7), true)
                .file(ST_REPO, "model-00002-of-00002.safetensors", bytes(2_000, 8), true)
                .file(ST_REPO, "consolidated.safetensors", bytes(5_000, 9), true)
                .file(ST_REPO, "onnx/model.onnx", bytes(100, 10), true)
                .file(ST_REPO, "README.md", utf8("# llm"), false);
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aLocalPathIsReturnedAsItIs(@TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("m.gguf"), "x");
        ModelResolver r = resolver(hub, cache).build();
        assertEquals(file, r.resolve(file.toString()));
        assertEquals(dir, r.resolve(dir.toString()));
        ModelResolutionException e = assertThrows(ModelResolutionException.class, () -> r.resolve(dir.resolve("no.gguf").toString()));
        assertTrue(e.getMessage().startsWith("no such file or directory: " + dir.resolve("no.gguf")), e.getMessage());
        ModelResolutionException repoLike = assertThrows(ModelResolutionException.class, () -> r.resolve("acme/llm"));
        assertTrue(repoLike.getMessage().contains("write hf:acme/llm"), repoLike.getMessage());
        assertEquals(List.of(), hub.requests());
    }

    @Test
    void theQuantShorthandPicksTheMatchingGgufCaseInsensitively() throws IOException {
        ModelResolver r = resolver(hub, cache).build();
        Path p = r.resolve(GGUF_REPO + ":q8_0"); // mmproj-llm-Q8_0.gguf is a projector, not the model
        assertEquals("llm-Q8_0.gguf", p.getFileName().toString());
        assertArrayEquals(bytes(8_000, 3), Files.readAllBytes(p));
        assertEquals(List.of("/api/models/" + GGUF_REPO + "/revision/main", "/" + GGUF_REPO + "/resolve/" + hub.commit(GGUF_REPO)
                + "/llm-Q8_0.gguf"), hub.requests("hub").stream().map(FakeHub.Request::path).toList());
        assertEquals(hub.commit(GGUF_REPO), Files.readString(cache.resolve("models--acme--llm-GGUF/refs/main")));

        hub.clearRequests();
        assertEquals(p, r.resolve("hf:" + GGUF_REPO + ":Q8_0"));
        assertEquals(List.of(), hub.requests(), "answered from the cache");
        assertEquals("llm-Q4_K_M.gguf", r.resolve(GGUF_REPO + ":Q4_K_M").getFileName().toString());
    }

    @Test
    void anAmbiguousOrUnknownQuantListsTheGgufFiles() {
        ModelResolver r = resolver(hub, cache).build();
        ModelResolutionException ambiguous = assertThrows(ModelResolutionException.class, () -> r.resolve(GGUF_REPO + ":Q4_K"));
        assertEquals("'Q4_K' is ambiguous in repo acme/llm-GGUF: it matches llm-Q4_K_M.gguf, llm-Q4_K_S.gguf. Write more of"
                + " the name, so that it matches one file, or name the file, e.g. hf:acme/llm-GGUF/llm-Q4_K_M.gguf",
                ambiguous.getMessage());
        ModelResolutionException none = assertThrows(ModelResolutionException.class, () -> r.resolve(GGUF_REPO + ":Q5_K_M"));
        assertEquals("no GGUF file in repo acme/llm-GGUF matches 'Q5_K_M'; its .gguf files are:"
                + " big/llm-F16-00001-of-00002.gguf, big/llm-F16-00002-of-00002.gguf, llm-Q4_K_M.gguf, llm-Q4_K_S.gguf,"
                + " llm-Q8_0.gguf, mmproj-llm-Q8_0.gguf", none.getMessage());
        ModelResolutionException split = assertThrows(ModelResolutionException.class, () -> r.resolve(GGUF_REPO + ":F16"));
        assertTrue(split.getMessage().startsWith("the F16 GGUF in repo acme/llm-GGUF is split into 00002 files"),
                split.getMessage());
        ModelResolutionException safetensors = assertThrows(ModelResolutionException.class, () -> r.resolve(ST_REPO + ":Q4_0"));
        assertTrue(safetensors.getMessage().startsWith("repo acme/llm has no .gguf files"), safetensors.getMessage());
        assertFalse(Files.exists(cache.resolve("models--acme--llm-GGUF/blobs")), "nothing downloaded");
    }

    @Test
    void aSafetensorsRepoDownloadsConfigTokenizerIndexAndTheIndexedShards() throws IOException {
        HubTests.Events events = new HubTests.Events();
        Path dir = resolver(hub, cache).build().resolve("hf:" + ST_REPO, events);
        String commit = hub.commit(ST_REPO);
        assertEquals(cache.resolve("models--acme--llm/snapshots/" + commit), dir);
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of("config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors",
                    "model.safetensors.index.json", "tokenizer.json", "tokenizer_config.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        assertArrayEquals(bytes(2_000, 8), Files.readAllBytes(dir.resolve("model-00002-of-00002.safetensors")));
        assertEquals(6, events.events.stream().filter(e -> e.startsWith("done ")).count());
        assertTrue(hub.requests().stream().noneMatch(q -> q.path().contains("consolidated") || q.path().contains("onnx")));
        assertEquals(commit, Files.readString(cache.resolve("models--acme--llm/refs/main")));

        hub.clearRequests();
        assertEquals(dir, resolver(hub, cache).build().resolve("hf:" + ST_REPO));
        assertEquals(List.of(), hub.requests(), "a complete snapshot is used without requests");
    }

    @Test
    void anIncompleteSnapshotIsCompleted() throws IOException {
        Path dir = resolver(hub, cache).build().resolve("hf:" + ST_REPO);
        Files.delete(dir.resolve("model-00002-of-00002.safetensors"));
        hub.clearRequests();
        assertEquals(dir, resolver(hub, cache).build().resolve("hf:" + ST_REPO));
        assertTrue(Files.isRegularFile(dir.resolve("model-00002-of-00002.safetensors")));
        assertTrue(hub.requests("cdn").isEmpty(), "the blob was still there: only the link was missing");
    }

    @Test
    void aGgufRepoAskedForAsSafetensorsSaysHowToPickAFile() {
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> resolver(hub, cache).build().resolve("hf:" + GGUF_REPO));
        assertTrue(e.getMessage().startsWith("repo acme/llm-GGUF holds GGUF files, not safetensors weights: pick one with"
                + " acme/llm-GGUF:QUANT"), e.getMessage());
    }

    @Test
    void offlineModeUsesTheCacheAndNeverTheNetwork() throws IOException {
        Path online = resolver(hub, cache).build().resolve(GGUF_REPO + ":Q8_0");
        Path dir = resolver(hub, cache).build().resolve("hf:" + ST_REPO);
        hub.clearRequests();
        ModelResolver offline = resolver(hub, cache).offline(true).build();
        assertEquals(online, offline.resolve(GGUF_REPO + ":Q8_0"));
        assertEquals(online, offline.resolve("hf:" + GGUF_REPO + "/llm-Q8_0.gguf"));
        assertEquals(dir, offline.resolve("hf:" + ST_REPO));
        ModelResolutionException e = assertThrows(ModelResolutionException.class, () -> offline.resolve(GGUF_REPO + ":Q4_K_M"));
        assertTrue(e.getMessage().startsWith("offline mode (HF_HUB_OFFLINE) is on and acme/llm-GGUF:Q4_K_M (cached GGUF files"
                + " of acme/llm-GGUF: llm-Q8_0.gguf) is not in the Hugging Face cache"), e.getMessage());
        assertEquals(List.of(), hub.requests());
    }

    @Test
    void offlineModeWithNothingCachedSaysHowToPassALocalFile() {
        ModelResolver offline = ModelResolver.builder(java.util.Map.of("HF_HUB_OFFLINE", "1", "HF_HUB_CACHE", cache.toString()),
                cache).endpoint(hub.endpoint()).build();
        assertTrue(offline.offline());
        ModelResolutionException e = assertThrows(ModelResolutionException.class,
                () -> offline.resolve("hf:" + GGUF_REPO + "/llm-Q8_0.gguf"));
        assertEquals("offline mode (HF_HUB_OFFLINE) is on and acme/llm-GGUF/llm-Q8_0.gguf is not in the Hugging Face cache "
                + cache + ", so 'hf:acme/llm-GGUF/llm-Q8_0.gguf' cannot be resolved. Pass a local file instead, e.g."
                + " --model /path/to/model.gguf or langchain4j.offload.model=/path/to/model.gguf, or turn offline mode off"
                + " (unset HF_HUB_OFFLINE) to download it", e.getMessage());
        assertThrows(ModelResolutionException.class, () -> offline.resolve("hf:" + ST_REPO));
        assertEquals(List.of(), hub.requests());
    }

    @Test
    void aCacheWrittenByHuggingFaceHubIsUsedAsItIs() throws IOException {
        // The layout huggingface_hub writes, built by hand: blob named by the ETag, relative link, refs/main.
        String commit = "0123456789abcdef0123456789abcdef01234567";
        Path repo = cache.resolve("models--someone--model-GGUF");
        Path blob = Files.createDirectories(repo.resolve("blobs")).resolve(FakeHub.sha256(utf8("gguf!")));
        Files.writeString(blob, "gguf!");
        Path snapshot = Files.createDirectories(repo.resolve("snapshots/" + commit));
        Files.createSymbolicLink(snapshot.resolve("model.Q5_K_M.gguf"), Path.of("../../blobs/" + blob.getFileName()));
        Files.createDirectories(repo.resolve("refs"));
        Files.writeString(repo.resolve("refs/main"), commit);

        ModelResolver r = resolver(hub, cache).build();
        assertEquals(snapshot.resolve("model.Q5_K_M.gguf"), r.resolve("someone/model-GGUF:Q5_K_M"));
        assertEquals(snapshot.resolve("model.Q5_K_M.gguf"), r.resolve("hf:someone/model-GGUF/model.Q5_K_M.gguf"));
        assertEquals(List.of(), hub.requests());
    }

    @Test
    void malformedHubSpecsAreExplained() {
        ModelResolver r = resolver(hub, cache).build();
        for (String spec : new String[] {"hf:", "hf:acme", "hf:acme/", "hf:acme//x.gguf", "hf:acme/llm/../x.gguf",
            "hf:ac--me/llm/x.gguf", "hf:acme/llm:"}) {
            ModelResolutionException e = assertThrows(ModelResolutionException.class, () -> r.resolve(spec), spec);
            assertTrue(e.getMessage().contains("'" + spec + "'"), e.getMessage());
        }
        assertTrue(ModelResolver.isHubSpec("hf:acme/llm"));
        assertTrue(ModelResolver.isHubSpec("acme/llm:Q4_K_M"));
        assertFalse(ModelResolver.isHubSpec("models/llm.gguf"));
        assertFalse(ModelResolver.isHubSpec("/abs/llm.gguf"));
        assertEquals(List.of(), hub.requests());
    }
}

package io.offload4j.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.offload4j.hub.ModelResolver;
import io.offload4j.testing.FakeHub;
import io.offload4j.testing.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --model} with Hugging Face ids, served by a local hub: download with a progress bar, then the cache. */
class ChatCliHubTest {

    private record Run(int code, String out, String err) {}

    private static Run run(FakeHub hub, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code = ChatCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                () -> ModelResolver.builder().endpoint(hub.endpoint()).token(null).offline(false));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void aHubModelIsDownloadedWithAProgressBarThenServedFromTheCache(@TempDir Path cache) throws Exception {
        byte[] model = Files.readAllBytes(SharedData.require("models/stories260K.gguf"));
        try (FakeHub hub = new FakeHub().file("acme/stories-GGUF", "stories260K-F32.gguf", model, true)) {
            String[] args = {"--model", "acme/stories-GGUF:f32", "--cache-dir", cache.toString(), "--raw", "--prompt",
                "Once upon a time", "--temperature", "0", "--max-tokens", "60"};
            Run first = run(hub, args);
            assertEquals(0, first.code(), first.err());
            assertEquals(ChatCliTest.REFERENCE, first.out().strip());
            assertTrue(first.err().contains("stories260K-F32.gguf") && first.err().contains("MiB"), first.err());
            assertTrue(Files.isSymbolicLink(cache.resolve("models--acme--stories-GGUF/snapshots/"
                    + hub.commit("acme/stories-GGUF") + "/stories260K-F32.gguf")));

            hub.clearRequests();
            Run second = run(hub, args);
            assertEquals(0, second.code(), second.err());
            assertEquals(ChatCliTest.REFERENCE, second.out().strip());
            assertEquals(List.of(), hub.requests(), "the second run uses the cache");
            assertTrue(!second.err().contains("MiB"), second.err());
        }
    }

    @Test
    void hubErrorsAreReportedWithExitCode1(@TempDir Path cache) throws Exception {
        try (FakeHub hub = new FakeHub().file("acme/x", "a.gguf", new byte[10], true)) {
            Run r = run(hub, "--model", "hf:acme/x/b.gguf", "--cache-dir", cache.toString(), "--prompt", "hi");
            assertEquals(1, r.code());
            assertTrue(r.err().startsWith("offload4j-chat: no such file 'b.gguf' in repo acme/x"), r.err());
        }
    }

    @Test
    void helpMentionsHubIdsAndTheCacheDir() {
        Run r = run(null, "--help");
        assertEquals(0, r.code());
        assertTrue(r.out().contains("owner/repo:Q4_K_M") && r.out().contains("--cache-dir DIR"), r.out());
    }
}

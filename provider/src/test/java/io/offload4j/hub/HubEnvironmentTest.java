package io.offload4j.hub;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The environment variables, with huggingface_hub's names and precedence. */
class HubEnvironmentTest {

    @TempDir
    Path home;

    private HubEnvironment env(String... kv) {
        Map<String, String> m = new java.util.HashMap<>();
        for (int i = 0; i < kv.length; i += 2) {
            m.put(kv[i], kv[i + 1]);
        }
        return HubEnvironment.of(m, home);
    }

    @Test
    void defaults() {
        HubEnvironment e = env();
        assertEquals(URI.create("https://huggingface.co"), e.endpoint());
        assertEquals(home.resolve(".cache/huggingface/hub"), e.cacheDir());
        assertNull(e.token());
        assertFalse(e.offline());
    }

    @Test
    void cacheDirPrecedence() {
        assertEquals(Path.of("/c/hub"), env("HF_HUB_CACHE", "/c/hub", "HF_HOME", "/h", "XDG_CACHE_HOME", "/x").cacheDir());
        assertEquals(Path.of("/h/hub"), env("HF_HOME", "/h", "XDG_CACHE_HOME", "/x").cacheDir());
        assertEquals(Path.of("/x/huggingface/hub"), env("XDG_CACHE_HOME", "/x").cacheDir());
        assertEquals(home.resolve("hf/hub"), env("HF_HOME", "~/hf").cacheDir());
        assertEquals(Path.of("/old"), env("HUGGINGFACE_HUB_CACHE", "/old").cacheDir());
    }

    @Test
    void endpointOfflineAndToken() throws IOException {
        assertEquals(URI.create("https://hf-mirror.com"), env("HF_ENDPOINT", "https://hf-mirror.com/").endpoint());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> env("HF_ENDPOINT", "hf-mirror.com"));
        assertTrue(bad.getMessage().startsWith("HF_ENDPOINT must be an http(s) URL"), bad.getMessage());
        for (String on : new String[] {"1", "true", "YES", "on"}) {
            assertTrue(env("HF_HUB_OFFLINE", on).offline(), on);
        }
        assertFalse(env("HF_HUB_OFFLINE", "0").offline());
        assertEquals("hf_env", env("HF_TOKEN", "hf_env").token());
        Path tokenFile = Files.createDirectories(home.resolve(".cache/huggingface")).resolve("token");
        Files.writeString(tokenFile, "hf_from_login\n");
        assertEquals("hf_from_login", env().token(), "the file huggingface-cli login writes");
        assertEquals("hf_env", env("HF_TOKEN", "hf_env").token(), "HF_TOKEN wins over the file");
    }

    @Test
    void explicitSettingsOverrideTheEnvironment() {
        ModelResolver r = ModelResolver.builder(Map.of("HF_HUB_OFFLINE", "1", "HF_TOKEN", "x"), home)
                .cacheDir(home.resolve("mine")).offline(false).token(null).endpoint("http://localhost:1/").build();
        assertEquals(home.resolve("mine"), r.cacheDir());
        assertFalse(r.offline());
        assertFalse(r.hasToken());
        assertEquals(URI.create("http://localhost:1"), r.endpoint());
    }
}

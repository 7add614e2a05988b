package io.offload4j.hub;

import io.offload4j.testing.FakeHub;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

/** Shared set-up for the hub tests: a resolver pointed at a {@link FakeHub}, with fast retries. */
final class HubTests {

    private HubTests() {
    }

    static ModelResolver.Builder resolver(FakeHub hub, Path cache) {
        return ModelResolver.builder(Map.of(), cache.resolve("home")).endpoint(hub.endpoint()).cacheDir(cache)
                .retryBackoff(Duration.ofMillis(5)).timeout(Duration.ofSeconds(5));
    }

    static byte[] bytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Records every listener event as text, for asserting on. */
    static final class Events implements DownloadListener {
        final List<String> events = new ArrayList<>();
        long lastProgress = -1;

        @Override
        public void start(String file, long totalBytes, long resumedFrom) {
            events.add("start " + file + " " + totalBytes + " " + resumedFrom);
        }

        @Override
        public void progress(long bytesSoFar) {
            if (bytesSoFar < lastProgress && !events.getLast().startsWith("start")) {
                throw new AssertionError("progress went back from " + lastProgress + " to " + bytesSoFar);
            }
            lastProgress = bytesSoFar;
        }

        @Override
        public void done(String file, Path path) {
            events.add("done " + file + " " + lastProgress);
        }
    }
}

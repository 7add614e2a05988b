package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.Placement;
import io.offload4j.offload.TieredForwardPass;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every causal-LM directory made by transformers in {@code src/test/resources/transformers} (those with
 * {@code ref-text.f32}: llama, qwen2/3, and each architecture added since) run on the GPU against transformers'
 * float32 logits, position by position (decode) and as one prompt chunk, fully resident and with the weights
 * streamed with a GPU budget of 60 % of their size, or 75 / 90 % where that does not hold a ring of two units (these
 * models have two to four blocks).
 * The tolerance is normwise (max |ours − theirs| / max |theirs|) 2e-3: the GPU keeps keys and values in fp16. The
 * bundle copies the directories next to the jars ({@code -Doffload4j.transformers}).
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class TransformersGpuTest {

    static final double TOLERANCE = 2e-3;

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();

    static Path root() {
        return Path.of(System.getProperty("offload4j.transformers", "src/test/resources/transformers"));
    }

    static Stream<String> directories() throws IOException {
        Path root = root();
        if (!Files.isDirectory(root)) {
            return Stream.of("(none: " + root.toAbsolutePath() + " is missing)");
        }
        List<String> names = new ArrayList<>();
        try (Stream<Path> s = Files.list(root)) {
            s.filter(d -> Files.exists(d.resolve("ref-text.f32")) && Files.exists(d.resolve("config.json")))
                    .map(d -> d.getFileName().toString()).sorted().forEach(names::add);
        }
        return names.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("directories")
    void logitsMatchTransformersResidentAndStreamed(String name) throws IOException {
        Path dir = root().resolve(name);
        Assumptions.assumeTrue(Files.isDirectory(dir), name);
        JsonNode meta = new ObjectMapper().readTree(dir.resolve("ref-text.json").toFile());
        int[] ids = new int[meta.get("ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = meta.get("ids").get(i).asInt();
        }
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("ref-text.f32"))).order(ByteOrder.LITTLE_ENDIAN);
        try (Model model = Model.load(dir)) {
            int vocab = model.config().vocabularySize();
            long total = OffloadBenchmark.weightBytes(model.weights());
            for (String how : new String[] {"resident", "streamed"}) {
                try (TieredForwardPass pass = how.equals("resident")
                        ? Passes.on(gpu.backend(), model, ids.length + 8, ids.length, OffloadOptions.DEFAULTS)
                        : streamed(model, ids.length + 8, ids.length, total)) {
                    float[] logits = new float[vocab];
                    double worst = 0;
                    try (KvCache cache = pass.newKvCache(ids.length + 8)) {
                        for (int p = 0; p < ids.length; p++) {
                            pass.forward(cache, ids, p, 1, p, logits);
                            double err = error(logits, raw, p, vocab);
                            assertTrue(err <= TOLERANCE, name + " " + how + " decode position " + p
                                    + ": normwise error " + err + " > " + TOLERANCE);
                            worst = Math.max(worst, err);
                        }
                    }
                    double chunk;
                    try (KvCache cache = pass.newKvCache(ids.length + 8)) {
                        pass.forward(cache, ids, 0, ids.length, 0, logits);
                        chunk = error(logits, raw, ids.length - 1, vocab);
                    }
                    GpuTests.report(String.format(Locale.ROOT, "transformers %s %s: %d positions, normwise error"
                            + " decode max %.2e, one chunk %.2e", name, how, ids.length, worst, chunk));
                    assertTrue(chunk <= TOLERANCE, name + " " + how + " as one chunk: normwise error " + chunk);
                }
            }
        }
    }

    /**
     * A pass that streams some of the model's units: the smallest of 60 / 75 / 90 % of the weights that holds a ring of
     * two units (these models have two to four blocks, and the smallest of them, hf-llama's, needs more than 60 %).
     */
    private static TieredForwardPass streamed(Model model, int context, int chunk, long total) {
        IllegalArgumentException refused = null;
        for (double fraction : new double[] {0.6, 0.75, 0.9}) {
            OffloadOptions options = OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (fraction * total))
                    .withPrefetchDepth(1).withPlacement("stream");
            try {
                TieredForwardPass pass = Passes.on(gpu.backend(), model, context, chunk, options);
                if (pass.plan().count(Placement.STREAMED) == 0) {
                    pass.close();
                    throw new AssertionError("a budget of " + fraction + " of the weights streams nothing");
                }
                return pass;
            } catch (IllegalArgumentException e) {
                refused = e;
            }
        }
        throw refused;
    }

    private static double error(float[] logits, ByteBuffer raw, int p, int vocab) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < vocab; i++) {
            float ref = raw.getFloat(4 * (p * vocab + i));
            maxDiff = Math.max(maxDiff, Math.abs(logits[i] - ref));
            maxRef = Math.max(maxRef, Math.abs(ref));
        }
        return maxDiff / maxRef;
    }
}

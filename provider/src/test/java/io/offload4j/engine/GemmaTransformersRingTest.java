package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.backend.cpu.CpuBackend;
import io.offload4j.model.Model;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * transformers' Gemma 2 / Gemma 3 directories (window 8, text of 38 tokens; {@code src/test/resources/transformers}),
 * and its Mistral one (window 8 on every block, text of 28 tokens), on a CPU pass whose sliding blocks keep a ring of 2 × (8 + 4) rows in a context of 256: every position's logits
 * token by token and four rows at a time, and the greedy continuation, as transformers computed them. (The
 * engine-level {@link TransformersReferenceTest} runs the same files with a context of 64, where no ring is smaller
 * than the whole cache.)
 */
class GemmaTransformersRingTest {

    private static final int CONTEXT = 256;
    private static final int CHUNK = 4;

    @ParameterizedTest
    @ValueSource(strings = {"hf-gemma2", "hf-gemma3", "hf-mistral"})
    void matchesTransformersThroughTheRing(String name) throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/" + name + "/config.json").toURI()).getParent();
        try (Model model = Model.load(dir);
             CpuBackend cpu = new CpuBackend(2);
             ForwardPass pass = cpu.prepare(model, CONTEXT, CHUNK)) {
            assertEquals(8, model.config().traits().slidingWindow());
            for (String ref : new String[] {"ref-text", "ref-ids"}) {
                JsonNode json = new ObjectMapper().readTree(dir.resolve(ref + ".json").toFile());
                int[] prompt = ints(json.get("ids"));
                int vocab = json.get("vocab_size").asInt();
                float[][] expected = f32(dir.resolve(ref + ".f32"), prompt.length, vocab);
                float[] logits = new float[vocab];
                try (KvCache cache = pass.newKvCache(CONTEXT)) {
                    assertEquals(CHUNK, cache.maxRewind(), "sliding blocks keep a ring");
                    for (int p = 0; p < prompt.length; p++) {
                        pass.forward(cache, prompt, p, 1, p, logits);
                        assertClose(logits, expected[p], name + " " + ref + " decode position " + p);
                    }
                }
                try (KvCache cache = pass.newKvCache(CONTEXT)) {
                    float[][] rows = new float[CHUNK][vocab];
                    for (int p = 0; p < prompt.length; p += CHUNK) {
                        int n = Math.min(CHUNK, prompt.length - p);
                        pass.forwardAll(cache, prompt, p, n, p, rows);
                        for (int i = 0; i < n; i++) {
                            assertClose(rows[i], expected[p + i], name + " " + ref + " chunk row " + (p + i));
                        }
                    }
                    int[] greedy = ints(json.get("greedy"));
                    int[] ours = new int[greedy.length];
                    int[] next = new int[1];
                    System.arraycopy(rows[(prompt.length - 1) % CHUNK], 0, logits, 0, vocab);
                    for (int i = 0; i < greedy.length; i++) {
                        next[0] = argmax(logits);
                        ours[i] = next[0];
                        pass.forward(cache, next, 0, 1, prompt.length + i, logits);
                    }
                    assertArrayEquals(greedy, ours, name + " " + ref + ": greedy continuation");
                }
            }
        }
    }

    private static void assertClose(float[] ours, float[] theirs, String what) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < theirs.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
            maxRef = Math.max(maxRef, Math.abs(theirs[i]));
        }
        assertTrue(maxDiff / maxRef < 1e-5, what + ": relative error " + maxDiff / maxRef);
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    private static float[][] f32(Path p, int rows, int cols) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(4L * rows * cols, b.capacity(), p + " size");
        float[][] out = new float[rows][cols];
        for (float[] row : out) {
            b.asFloatBuffer().get(row);
            b.position(b.position() + 4 * cols);
        }
        return out;
    }
}

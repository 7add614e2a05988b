package io.offload4j.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Directories written by transformers 5.17 itself ({@code tests/gpu/make_hf_model.py} on the GPU machine: tiny
 * random models, 4–6 shards each; llama bf16, qwen2 bf16 with tied embeddings and biases, qwen3 f16 with
 * head_dim 32; norms and biases randomised) and transformers' own float32 logits and greedy tokens for them
 * ({@code tests/gpu/hf_logits.py}), kept in {@code src/test/resources/transformers} with the logs of the run.
 * offload4j must tokenize as transformers did, compute the same logits at every position, and pick the same
 * greedy continuation.
 */
class TransformersReferenceTest {

    private static final String TEXT = "Once upon a time, there was a little girl named Lily.";
    private static final String UNICODE = "Über den Wolken: 1234567 日本語のテキスト!";
    private static final EngineOptions CPU = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(2).withContextLength(64);

    @ParameterizedTest
    @ValueSource(strings = {"hf-llama", "hf-qwen2", "hf-qwen3", "hf-phi3", "hf-phi3-longrope", "hf-mistral",
            "hf-gemma2", "hf-gemma3"})
    void matchesTransformers(String name) throws Exception {
        check(resource(name), name);
    }

    /**
     * The same weights written as GGUF by our writer (what llama.cpp's converter makes of the directory: GGUF
     * names, Phi-3's fused tensors, llama's Q/K rows permuted for adjacent-pair RoPE, F32) compute transformers'
     * logits too.
     */
    @ParameterizedTest
    @ValueSource(strings = {"hf-llama", "hf-qwen2", "hf-qwen3", "hf-phi3", "hf-phi3-longrope"})
    void ggufConversionMatchesTransformers(String name, @TempDir Path tmp) throws Exception {
        Path gguf = tmp.resolve(name + ".gguf");
        try (io.offload4j.model.Model m = io.offload4j.model.Model.load(resource(name))) {
            io.offload4j.model.QuantizedGguf.writeAs(m, ModelFiles.tokenizerMetadata(m),
                    io.offload4j.model.QuantPreset.F32, gguf);
        }
        check(gguf, name + " as GGUF");
    }

    /**
     * Mistral with a sliding window of 8 (and head_dim 32 where hidden / heads is 16), a 28-token reference: the
     * window is computed as Gemma's sliding-window attention is (every block sliding), so every position matches
     * transformers, token by token and as one chunk, for the directory and its GGUF conversion; an automatic context
     * is the model's whole context (no longer the window). {@link io.offload4j.engine.GemmaTransformersRingTest} runs
     * it through a ring KV cache that wraps.
     */
    @Test
    void mistralMatchesTransformersBeyondItsSlidingWindow(@TempDir Path tmp) throws Exception {
        Path dir = resource("hf-mistral");
        Path gguf = tmp.resolve("mistral.gguf");
        try (io.offload4j.model.Model m = io.offload4j.model.Model.load(dir)) {
            assertEquals(8, m.config().slidingWindow());
            assertEquals(8, m.config().traits().slidingWindow());
            for (int b = 0; b < m.config().blockCount(); b++) {
                assertTrue(m.config().traits().sliding(b), "Mistral's window applies to block " + b);
            }
            assertEquals(32, m.config().headDim());
            io.offload4j.model.QuantizedGguf.writeAs(m, ModelFiles.tokenizerMetadata(m),
                    io.offload4j.model.QuantPreset.F32, gguf);
        }
        for (Path model : new Path[] {dir, gguf}) {
            try (InferenceEngine auto = InferenceEngine.load(model, CPU.withContextLength(0))) {
                assertTrue(auto.contextLength() > 8, "an automatic context is not cut to the window: "
                        + auto.contextLength());
            }
            ForwardPass[] pass = new ForwardPass[1];
            try (InferenceEngine engine = InferenceEngine.load(model, CPU, (p, t) -> pass[0] = p)) {
                JsonNode text = json(dir.resolve("ref-text.json"));
                assertArrayEquals(ints(text.get("ids")), engine.tokenizer().encode(TEXT, true, false));
                for (String ref : new String[] {"ref-text", "ref-ids"}) {
                    JsonNode r = json(dir.resolve(ref + ".json"));
                    int[] prompt = ints(r.get("ids"));
                    assertTrue(prompt.length > 8, ref + " is longer than the window");
                    float[][] expected = f32(dir.resolve(ref + ".f32"), prompt.length, r.get("vocab_size").asInt());
                    float[] logits = new float[expected[0].length];
                    try (KvCache cache = pass[0].newKvCache(64)) {
                        for (int p = 0; p < prompt.length; p++) {
                            pass[0].forward(cache, prompt, p, 1, p, logits);
                            double err = relativeError(logits, expected[p]);
                            assertTrue(err < 1e-5, model + " " + ref + " position " + p + ": relative error " + err);
                        }
                    }
                    try (KvCache cache = pass[0].newKvCache(64)) {
                        pass[0].forward(cache, prompt, 0, prompt.length, 0, logits);
                        double err = relativeError(logits, expected[prompt.length - 1]);
                        assertTrue(err < 1e-5, model + " " + ref + " " + prompt.length
                                + " positions at once: relative error " + err);
                    }
                }
            }
        }
    }

    private static void check(Path dir0, String name) throws Exception {
        Path dir = resource(name.replace(" as GGUF", ""));
        Path model = dir0;
        JsonNode text = json(dir.resolve("ref-text.json"));
        JsonNode unicode = json(dir.resolve("ref-unicode.json"));
        JsonNode ids = json(dir.resolve("ref-ids.json"));
        ForwardPass[] pass = new ForwardPass[1];
        try (InferenceEngine engine = InferenceEngine.load(model, CPU, (p, t) -> pass[0] = p)) {
            assertArrayEquals(ints(text.get("ids")), engine.tokenizer().encode(TEXT, true, false),
                    "tokenization (BOS from the post-processor) as transformers'");
            assertArrayEquals(ints(unicode.get("ids")), engine.tokenizer().encode(UNICODE, false, false));
            assertEquals(UNICODE, engine.tokenizer().decode(ints(unicode.get("ids"))));
            for (JsonNode ref : new JsonNode[] {text, ids}) {
                int[] prompt = ints(ref.get("ids"));
                float[][] expected = f32(dir.resolve(ref == text ? "ref-text.f32" : "ref-ids.f32"), prompt.length,
                        ref.get("vocab_size").asInt());
                compare(pass[0], prompt, expected, ints(ref.get("greedy")), name);
            }
        }
    }

    /**
     * Position by position (decode path), then the whole prompt as one chunk (prefill GEMM), then greedy steps —
     * on the engine's own forward pass, from the test thread while the engine's scheduler has nothing to do.
     */
    static void compare(ForwardPass pass, int[] prompt, float[][] expected, int[] greedy, String name) {
        int vocab = expected[0].length;
        float[] logits = new float[vocab];
        try (KvCache cache = pass.newKvCache(64)) {
            for (int p = 0; p < prompt.length; p++) {
                pass.forward(cache, prompt, p, 1, p, logits);
                double err = relativeError(logits, expected[p]);
                assertTrue(err < 1e-5, name + " position " + p + ": relative error " + err);
            }
        }
        try (KvCache cache = pass.newKvCache(64)) {
            pass.forward(cache, prompt, 0, prompt.length, 0, logits);
            double err = relativeError(logits, expected[prompt.length - 1]);
            assertTrue(err < 1e-5, name + " whole prompt: relative error " + err);
            int[] ours = new int[greedy.length];
            int[] next = new int[1];
            for (int i = 0; i < greedy.length; i++) {
                next[0] = argmax(logits);
                ours[i] = next[0];
                pass.forward(cache, next, 0, 1, prompt.length + i, logits);
            }
            assertArrayEquals(greedy, ours, name + ": greedy continuation");
        }
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

    private static double relativeError(float[] a, float[] b) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < b.length; i++) {
            maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
            maxRef = Math.max(maxRef, Math.abs(b[i]));
        }
        return maxDiff / maxRef;
    }

    static Path resource(String name) throws URISyntaxException {
        return Path.of(TransformersReferenceTest.class.getResource("/transformers/" + name + "/config.json").toURI())
                .getParent();
    }

    static JsonNode json(Path p) throws IOException {
        return new ObjectMapper().readTree(p.toFile());
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    static float[][] f32(Path p, int rows, int cols) throws IOException {
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

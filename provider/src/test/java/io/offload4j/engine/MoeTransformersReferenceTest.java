package io.offload4j.engine;

import static io.offload4j.engine.TransformersReferenceTest.compare;
import static io.offload4j.engine.TransformersReferenceTest.f32;
import static io.offload4j.engine.TransformersReferenceTest.ints;
import static io.offload4j.engine.TransformersReferenceTest.json;
import static io.offload4j.engine.TransformersReferenceTest.resource;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import io.offload4j.backend.ForwardPass;
import java.nio.file.Path;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Mixtures of experts written by transformers 5.17 ({@code tests/gpu/make_hf_fixtures.py} on the lent H100; see
 * {@code src/test/resources/transformers/README.md}) against transformers' own float32 logits: Qwen3-MoE
 * (renormalised top-k), Qwen2-MoE (top-k probabilities as they are, a sigmoid-gated shared expert, QKV biases) and
 * Mixtral ({@code block_sparse_moe} names), per-expert tensors. Every position's logits by decode and as one
 * prompt chunk (tokens grouped by expert), and the greedy continuation, as {@link TransformersReferenceTest} checks
 * the dense models.
 */
class MoeTransformersReferenceTest {

    private static final String TEXT = "Once upon a time, there was a little girl named Lily.";
    private static final EngineOptions CPU = EngineOptions.DEFAULTS.withDevice("cpu").withThreads(2).withContextLength(64);

    @ParameterizedTest
    @ValueSource(strings = {"hf-qwen3moe", "hf-qwen2moe", "hf-mixtral"})
    void matchesTransformers(String name) throws Exception {
        Path dir = resource(name);
        JsonNode text = json(dir.resolve("ref-text.json"));
        JsonNode ids = json(dir.resolve("ref-ids.json"));
        ForwardPass[] pass = new ForwardPass[1];
        try (InferenceEngine engine = InferenceEngine.load(dir, CPU, (p, t) -> pass[0] = p)) {
            assertEquals(true, pass[0].config().isMixtureOfExperts(), name + " loads as a mixture of experts");
            assertArrayEquals(ints(text.get("ids")), engine.tokenizer().encode(TEXT, true, false));
            for (JsonNode ref : new JsonNode[] {text, ids}) {
                int[] prompt = ints(ref.get("ids"));
                float[][] expected = f32(dir.resolve(ref == text ? "ref-text.f32" : "ref-ids.f32"), prompt.length,
                        ref.get("vocab_size").asInt());
                compare(pass[0], prompt, expected, ints(ref.get("greedy")), name);
            }
        }
    }
}

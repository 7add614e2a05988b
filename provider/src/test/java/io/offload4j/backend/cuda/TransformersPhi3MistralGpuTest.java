package io.offload4j.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import io.offload4j.offload.OffloadOptions;
import io.offload4j.offload.TieredForwardPass;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The transformers fixtures of Phi-3 (default RoPE and LongRoPE) and Mistral on the GPU: our CUDA logits against
 * transformers' float32 logits at every position (Mistral: the 8 within its sliding window), resident and with 60 %
 * of the weights' bytes as the GPU budget (streamed through a ring of two units). Tolerance 2e-3 normwise, as
 * {@link HfLogitsCheck}: the fp16 KV cache is the difference.
 */
@Tag("gpu")
@ExtendWith(GpuCondition.class)
class TransformersPhi3MistralGpuTest {

    static final double TOL = 2e-3;

    @RegisterExtension
    static final GpuTests.BackendSession gpu = new GpuTests.BackendSession();

    @ParameterizedTest(name = "{0} {1}, {2} positions")
    @CsvSource({"hf-phi3, ref-text, 28", "hf-phi3, ref-ids, 20", "hf-phi3-longrope, ref-text, 28",
            "hf-phi3-longrope, ref-ids, 20", "hf-mistral, ref-text, 28", "hf-mistral, ref-ids, 20"})
    void gpuLogitsMatchTransformers(String name, String ref, int positions) throws Exception {
        Path dir = Path.of(getClass().getResource("/transformers/" + name + "/config.json").toURI()).getParent();
        JsonNode meta = new ObjectMapper().readTree(dir.resolve(ref + ".json").toFile());
        int[] ids = new int[meta.get("ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = meta.get("ids").get(i).asInt();
        }
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(dir.resolve(ref + ".f32"))).order(ByteOrder.LITTLE_ENDIAN);
        // the pass's context: 64 (Phi-3: LongRoPE's long factors, as transformers used past 16 positions; Mistral:
        // window 8 in every block, whose GPU KV cache is a ring of 8 + 8 rows that the 28 tokens wrap)
        int context = 64;
        try (Model model = Model.load(dir)) {
            int vocab = model.config().vocabularySize();
            assertEquals(4L * ids.length * vocab, raw.capacity());
            long total = OffloadBenchmark.weightBytes(model.weights());
            for (OffloadOptions options : new OffloadOptions[] {OffloadOptions.DEFAULTS,
                    OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (0.6 * total)).withPrefetchDepth(1)
                            .withPlacement("stream")}) {
                try (TieredForwardPass pass = Passes.on(gpu.backend(), model, context, 8, options);
                     KvCache cache = pass.newKvCache(context)) {
                    float[] logits = new float[vocab];
                    double worst = 0;
                    for (int p = 0; p < positions; p++) {
                        pass.forward(cache, ids, p, 1, p, logits);
                        double maxDiff = 0;
                        double maxRef = 0;
                        for (int i = 0; i < vocab; i++) {
                            float want = raw.getFloat(4 * (p * vocab + i));
                            maxDiff = Math.max(maxDiff, Math.abs(logits[i] - want));
                            maxRef = Math.max(maxRef, Math.abs(want));
                        }
                        worst = Math.max(worst, maxDiff / maxRef);
                    }
                    GpuTests.report(String.format("%s %s %s: %d positions, max error vs transformers %.2e", name, ref,
                            pass.plan(), positions, worst));
                    assertTrue(worst <= TOL, name + " " + ref + ": " + worst);
                }
            }
        }
    }
}

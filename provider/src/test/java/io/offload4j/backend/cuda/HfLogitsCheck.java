package io.offload4j.backend.cuda;

import io.offload4j.offload.TieredForwardPass;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.offload4j.backend.ForwardPass;
import io.offload4j.backend.KvCache;
import io.offload4j.model.Model;
import io.offload4j.offload.OffloadOptions;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Our CUDA logits for a Hugging Face model directory against transformers' own (written by
 * {@code tests/gpu/hf_logits.py MODEL_DIR --ids … --out PREFIX}), position by position, fully resident and with the
 * weights offloaded to a fraction of the GPU budget. Exits 1 when any position is off by more than the tolerance.
 *
 * <pre>
 * HfLogitsCheck MODEL_DIR PREFIX [TOLERANCE=2e-3] [OFFLOAD_FRACTION=0.3]
 * </pre>
 *
 * The error per position is normwise: max |ours − theirs| / max |theirs| over the vocabulary. transformers computes
 * in float32 from the saved weights; so do our kernels (fp32 activations, weights decoded in registers), except for
 * the fp16 KV cache — hence a tolerance of a few 1e-3 rather than 1e-6.
 */
public final class HfLogitsCheck {

    private HfLogitsCheck() {}

    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0]);
        String prefix = args[1];
        double tol = args.length > 2 ? Double.parseDouble(args[2]) : 2e-3;
        double fraction = args.length > 3 ? Double.parseDouble(args[3]) : 0.3;
        JsonNode meta = new ObjectMapper().readTree(Path.of(prefix + ".json").toFile());
        JsonNode idsNode = meta.get("ids");
        int[] ids = new int[idsNode.size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = idsNode.get(i).asInt();
        }
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(Path.of(prefix + ".f32"))).order(ByteOrder.LITTLE_ENDIAN);
        boolean ok = true;
        try (CudaBackend gpu = new CudaBackend(0); Model model = Model.load(dir)) {
            int vocab = model.config().vocabularySize();
            if (raw.capacity() != 4L * ids.length * vocab) {
                throw new IllegalArgumentException(prefix + ".f32 holds " + raw.capacity() + " bytes, expected "
                        + ids.length + " positions × " + vocab + " logits × 4");
            }
            long total = OffloadBenchmark.weightBytes(model.weights());
            for (OffloadOptions options : new OffloadOptions[] {OffloadOptions.DEFAULTS,
                    OffloadOptions.DEFAULTS.withGpuMemoryBudget((long) (fraction * total))}) {
                try (TieredForwardPass pass = Passes.on(gpu, model, ids.length + 8, 8, options);
                     KvCache cache = pass.newKvCache(ids.length + 8)) {
                    float[] logits = new float[vocab];
                    double worst = 0;
                    int worstAt = -1;
                    for (int p = 0; p < ids.length; p++) {
                        pass.forward(cache, ids, p, 1, p, logits);
                        double maxDiff = 0;
                        double maxRef = 0;
                        for (int i = 0; i < vocab; i++) {
                            float ref = raw.getFloat(4 * (p * vocab + i));
                            maxDiff = Math.max(maxDiff, Math.abs(logits[i] - ref));
                            maxRef = Math.max(maxRef, Math.abs(ref));
                        }
                        double err = maxDiff / maxRef;
                        if (err > worst) {
                            worst = err;
                            worstAt = p;
                        }
                    }
                    boolean pass1 = worst <= tol;
                    ok &= pass1;
                    System.out.printf(Locale.ROOT, "%s %s (%s): %d positions, max normwise error vs transformers %.2e"
                                    + " at position %d (tolerance %.0e) %s%n", dir.getFileName(),
                            options.gpuMemoryBudget() == OffloadOptions.AUTO ? "resident" : "offloaded",
                            (pass).plan().count(io.offload4j.offload.Placement.STREAMED)
                                    + " units streamed", ids.length, worst, worstAt, tol, pass1 ? "OK" : "FAIL");
                }
            }
        }
        System.exit(ok ? 0 : 1);
    }
}
